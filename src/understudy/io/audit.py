"""``DST/audit.jsonl``: one JSON object per input, the record a data-protection officer reads.

Rows are appended and fsync'ed one at a time, after the output file is in place, so a run
killed at any moment leaves at worst one truncated last line, which ``AuditLog`` repairs
before appending. ``--resume`` trusts a row only if the source still has the same content
hash, the row was made with the same settings (method, options, target, seed: the
``settings`` fingerprint) and the output still exists.

File names that are not valid UTF-8 reach Python as surrogate escapes; such a row is written
with JSON ``\\udcXX`` escapes (``ensure_ascii``), which ``json.loads`` and ``os.fsencode``
turn back into the exact bytes of the name: the audit stays valid UTF-8 and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

AUDIT_NAME = "audit.jsonl"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete row of an audit file; a truncated or garbled line is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


def encode_row(row: dict[str, Any]) -> bytes:
    """One audit line: readable UTF-8, or all-ASCII JSON escapes when a value holds the
    surrogate escapes of a name that is not UTF-8 (lossless, see the module doc)."""
    try:
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(row, ensure_ascii=True) + "\n").encode("ascii")


def resume_entries(path: Path) -> dict[str, dict[str, Any]]:
    """What ``--resume`` needs of an audit, per output: ``{"sha256", "settings"}`` of its
    last ``ok`` row, or ``{"skipped": reason}`` of a file recorded as not ours to read.
    Only these fields are kept, so a million-row audit costs ~100 MB, not gigabytes."""
    entries: dict[str, dict[str, Any]] = {}
    for row in read_rows(path):
        output = row.get("output")
        if not output:
            continue
        if row.get("status") == "ok" and row.get("sha256"):
            entries[output] = {"sha256": row["sha256"], "settings": row.get("settings")}
        elif row.get("status") == "skipped":
            entries[output] = {"skipped": row.get("reason")}
        else:
            entries.pop(output, None)
    return entries


class AuditLog:
    """Append-only writer; ``done`` maps each output path to its last ``ok`` row."""

    def __init__(self, path: Path):
        self.path = path
        self._repair_tail()
        self._handle = open(path, "ab")

    def _repair_tail(self) -> None:
        """Cut a partial last line left by a killed run, so the next row starts clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            handle.truncate(data.rfind(b"\n") + 1)

    def done(self) -> dict[str, dict[str, Any]]:
        finished: dict[str, dict[str, Any]] = {}
        for row in read_rows(self.path):
            if row.get("status") == "ok" and row.get("output"):
                finished[row["output"]] = row
            elif row.get("output") in finished:
                del finished[row["output"]]
        return finished

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(encode_row(row))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


@dataclass
class Summary:
    """Running totals for the end-of-run screen."""

    files: int = 0
    ok: int = 0
    failed: int = 0
    resumed: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> files not read
    frames: int = 0
    outcomes: Counter = field(default_factory=Counter)  # (kind, outcome) -> count
    notes: dict[str, None] = field(default_factory=dict)  # ordered set
    seconds: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        self.files += 1
        if row.get("status") == "resumed":
            self.resumed += 1
            return
        if row.get("status") == "skipped":
            self.skipped[row.get("reason", "")] += 1
            return
        if row["status"] == "ok":
            self.ok += 1
        else:
            self.failed += 1
        self.frames += int(row.get("frames", 1 if row["status"] == "ok" else 0))
        for region in row.get("regions", []):
            self.outcomes[(region["kind"], region["outcome"])] += 1
        # Videos record counts per "kind:outcome" instead of one entry per region and frame.
        for key, count in row.get("counts", {}).items():
            kind, _, outcome = key.partition(":")
            self.outcomes[(kind, outcome)] += count
        for note in row.get("notes", []):
            self.notes[note] = None
