"""The images to compare: originals and anonymized sets paired by relative path, plus the
audit rows ``understudy anonymize`` wrote beside the outputs (time, prompted attributes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from understudy.errors import InputError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
AUDIT_NAME = "audit.jsonl"
# The name the originals take in a report, as if they were one more anonymized set.
REFERENCE = "original"


@dataclass
class AnonymizedSet:
    name: str
    root: Path
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)  # relative path → row

    def path(self, relative: str) -> Path:
        return self.root / relative


@dataclass
class Dataset:
    original: Path
    relatives: list[str]  # image paths relative to ``original``, sorted
    sets: list[AnonymizedSet]
    skipped: list[str] = field(default_factory=list)  # non-image files: videos go to video.py

    def videos(self) -> list[str]:
        from understudy.evaluation.video import VIDEO_SUFFIXES

        return [r for r in self.skipped if Path(r).suffix.lower() in VIDEO_SUFFIXES]

    def missing(self, anon: AnonymizedSet) -> list[str]:
        return [r for r in self.relatives if not anon.path(r).is_file()]


def list_images(root: Path) -> tuple[list[str], list[str]]:
    """(image paths, other files) under ``root``, relative, sorted; audit/report files ignored."""
    images, others = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel or path.name in (AUDIT_NAME,):
            continue
        (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(rel)
    return images, others


def open_dataset(original: str | Path, anonymized: dict[str, str | Path]) -> Dataset:
    root = Path(original)
    if not root.is_dir():
        raise UsageError(f"--original {str(original)!r} is not a folder")
    if not anonymized:
        raise UsageError("give at least one anonymized set: --anonymized NAME=DIR")
    from understudy.evaluation.video import VIDEO_SUFFIXES

    relatives, others = list_images(root)
    if not relatives and not any(Path(o).suffix.lower() in VIDEO_SUFFIXES for o in others):
        raise UsageError(f"--original {str(original)!r} holds no images "
                         f"({', '.join(IMAGE_SUFFIXES)}) and no videos "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    sets = []
    for name, folder in anonymized.items():
        if not name or not all(c.isalnum() or c in "-_.+:" for c in name):
            raise UsageError(f"anonymized set name {name!r} must be letters, digits or -_.+:")
        path = Path(folder)
        if not path.is_dir():
            raise UsageError(f"--anonymized {name}={str(folder)!r} is not a folder")
        anon = AnonymizedSet(name, path, read_audit(path, root, relatives + others))
        sets.append(anon)
    dataset = Dataset(root, relatives, sets, others)
    for anon in sets:
        if relatives and len(dataset.missing(anon)) == len(relatives):
            raise UsageError(f"--anonymized {anon.name}={str(anon.root)!r} has none of the "
                             f"original's relative paths (e.g. {relatives[0]!r})")
    return dataset


def read_audit(folder: Path, original_root: Path,
               relatives: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Audit rows of one anonymized set by relative path (of the output, else of the source).

    Paths in the audit may be absolute from another machine or folder: when they do not lie
    under ``folder`` or ``original_root``, the longest of ``relatives`` they end with is used.
    A missing audit is fine (times and prompts are then not reported); an unreadable line is
    skipped rather than failing the evaluation.
    """
    path = folder / AUDIT_NAME
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    by_name: dict[str, list[str]] = {}
    for rel in relatives or []:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict):
            continue
        for key, base in (("output", folder), ("source", original_root)):
            rel = _relative(row.get(key), base) or _suffix(row.get(key), by_name)
            if rel is not None:
                rows.setdefault(rel, row)
                break
    return rows


def _suffix(value: Any, by_name: dict[str, list[str]]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("\\", "/")
    hits = [rel for rel in by_name.get(text.rsplit("/", 1)[-1], [])
            if text == rel or text.endswith("/" + rel)]
    return max(hits, key=len) if hits else None


def _relative(value: Any, base: Path) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        # Relative audit paths are either relative to the folder or to the working dir.
        if (base / path).exists():
            return path.as_posix()
        path = path.resolve()
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_rgb(path: Path) -> np.ndarray:
    """An image as ``(H, W, 3) uint8`` RGB, EXIF orientation applied (as a viewer shows it)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except Exception as exc:  # PIL raises many types for broken files
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
