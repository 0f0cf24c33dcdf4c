"""Turn an anonymization run's audit into the label files the next steps read, so that no
one writes them by hand: ``understudy audit export DST --labels L.csv --attributes A.csv``.

* ``--labels``: one row per stand-in, ``image, x0, y0, x1, y1`` and one column per attribute
  it was given: the per-person form ``understudy utility --labels`` reads (the box is the
  crop the model sees).
* ``--attributes``: one row per image, ``image, method`` and the attributes its stand-ins
  share (a value that differs between two stand-ins of one image is left empty: not
  prompted for the image as a whole): the form ``understudy rate create --attributes`` reads.

Only people with outcome ``replaced`` carry attributes: a person masked out (fail closed) or
skipped has no stand-in to label. Video rows record counts, not people, and are left out.
When ``--resume`` redid an output, its newest row wins.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from understudy.attributes import prompted_attributes
from understudy.errors import UsageError
from understudy.io.audit import AUDIT_NAME, read_rows

BOX_COLUMNS = ("x0", "y0", "x1", "y1")


@dataclass(frozen=True)
class StandIn:
    """One replaced person of one output image, as the audit recorded them."""

    image: str  # the output's path relative to DST
    method: str
    box: tuple[float, float, float, float]
    attributes: dict[str, str]


@dataclass
class AuditExport:
    stand_ins: list[StandIn]
    images: int  # image outputs read
    videos: int  # video outputs left out (their rows hold counts, not people)


def read_stand_ins(destination: str | Path) -> AuditExport:
    """Every replaced person in ``DST/audit.jsonl``, in the order of the outputs."""
    audit = Path(destination) / AUDIT_NAME
    if not audit.is_file():
        raise UsageError(f"{destination}: no {AUDIT_NAME} here; give the -o folder of an "
                         "`understudy anonymize` run")
    newest: dict[str, dict[str, Any]] = {}
    for row in read_rows(audit):
        if row.get("status") == "ok" and row.get("output"):
            newest.pop(row["output"], None)  # re-insert: order of the newest rows
            newest[row["output"]] = row
    people: list[StandIn] = []
    videos = 0
    for output, row in newest.items():
        if row.get("kind") == "video":
            videos += 1
            continue
        for region in row.get("regions") or []:
            if region.get("kind") != "person" or region.get("outcome") != "replaced":
                continue
            values = {str(k): str(v) for k, v in
                      prompted_attributes(region.get("attributes")).items()
                      if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
            box = tuple(float(v) for v in region.get("box", ()))
            if len(box) == 4:
                people.append(StandIn(output, str(row.get("method", "")), box, values))
    return AuditExport(people, len(newest) - videos, videos)


def attribute_names(stand_ins: list[StandIn]) -> list[str]:
    return sorted({k for s in stand_ins for k in s.attributes})


def write_labels(stand_ins: list[StandIn], path: Path) -> int:
    """The per-person CSV of ``understudy utility --labels``; returns the rows written."""
    names = attribute_names(stand_ins)
    with _open(path) as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", *BOX_COLUMNS, *names])
        for s in stand_ins:
            writer.writerow([s.image, *(f"{v:.1f}" for v in s.box),
                             *(s.attributes.get(n, "") for n in names)])
    return len(stand_ins)


def write_image_attributes(stand_ins: list[StandIn], path: Path) -> int:
    """The per-image CSV of ``understudy rate create --attributes``; returns the rows."""
    names = attribute_names(stand_ins)
    by_image: dict[tuple[str, str], list[StandIn]] = {}
    for s in stand_ins:
        by_image.setdefault((s.image, s.method), []).append(s)
    with _open(path) as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "method", *names])
        for (image, method), people in by_image.items():
            shared = [_shared(people, n) for n in names]
            writer.writerow([image, method, *shared])
    return len(by_image)


def _shared(people: list[StandIn], name: str) -> str:
    values = {p.attributes.get(name, "") for p in people}
    return values.pop() if len(values) == 1 else ""


def _open(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", newline="", encoding="utf-8")
