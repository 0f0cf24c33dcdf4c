"""Datasets for the utility protocol: image folders plus labels, loaded into memory.

Classification labels are per image or per person: a CSV/JSON with an ``image`` key, an
optional person box ``x0, y0, x1, y1`` (pixels; the crop is what the model sees) and one
column per attribute (``age``, ``gender``, ``emotion``, ...; empty = unknown). Detection
labels are COCO JSON: the anonymized images keep the originals' file names and boxes, so
one annotation file usually serves the real and the synthetic split.

Images are matched to labels by relative path, then path without extension, then file
name, then stem; a split where nothing matches is an error that shows both sides.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from understudy.errors import UsageError
from understudy.io.records import read_image_csv

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
BOX_COLUMNS = ("x0", "y0", "x1", "y1")
KEY_COLUMNS = ("image", "split") + BOX_COLUMNS


@dataclass
class Record:
    """One labelled sample: an image, an optional box inside it, attributes or boxes."""

    path: Path
    box: tuple[float, float, float, float] | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    boxes: np.ndarray | None = None  # detection: (N, 4) x0, y0, x1, y1 in image pixels


@dataclass
class Split:
    """A split in memory: ``images`` (N, 3, S, S) uint8 and its targets."""

    name: str
    images: Any  # torch.Tensor uint8
    labels: Any = None  # classify: (N, A) int64, -1 = unknown
    boxes: list[np.ndarray] | None = None  # detect: per image (K, 4) in input pixels
    unmatched: int = 0  # images in the folder without labels (skipped)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def find_images(folder: str | Path, flag: str) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{flag} {folder}: no such folder")
    found = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    if not found:
        raise UsageError(f"{flag} {folder}: no images ({', '.join(IMAGE_SUFFIXES)}); the split "
                         "is empty")
    return found


def image_keys(name: str) -> list[str]:
    p = PurePosixPath(name.replace("\\", "/"))
    return list(dict.fromkeys([str(p), str(p.with_suffix("")), p.name, p.stem]))


def _index(images: dict[str, Path]) -> dict[str, str]:
    """Label key -> relative image path; ambiguous short keys (same stem twice) are dropped."""
    out: dict[str, str] = {}
    ambiguous: set[str] = set()
    for rel in images:
        for key in image_keys(rel):
            if key in out and out[key] != rel:
                ambiguous.add(key)
            out.setdefault(key, rel)
    for key in ambiguous:
        out.pop(key, None)
    return out


# -- classification labels ------------------------------------------------------------------
def read_attribute_labels(path: str | Path, flag: str = "--labels") -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            rows = read_image_csv(path, flag)
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "annotations" in data and "images" in data:
                raise UsageError(f"{flag} {path} is COCO detection data; use --task detect, or "
                                 "give per-image attributes for --task classify")
            if isinstance(data, dict):
                data = [{"image": k, **v} for k, v in data.items() if isinstance(v, dict)]
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise UsageError(f"{flag} {path}: JSON must be a list of records with 'image', "
                                 "or an object {image: {attribute: value}}")
            rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in data]
        else:
            raise UsageError(f"{flag} {path}: use .csv or .json for --task classify")
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{flag} {path}: cannot parse ({exc})") from None
    if not rows:
        raise UsageError(f"{flag} {path}: no label rows")
    for n, row in enumerate(rows, 1):
        if not str(row.get("image") or "").strip():
            raise UsageError(f"{flag} {path} row {n}: empty 'image'")
        given = [c for c in BOX_COLUMNS if str(row.get(c) or "").strip()]
        if given and len(given) != 4:
            raise UsageError(f"{flag} {path} row {n}: a person box needs all of "
                             f"{', '.join(BOX_COLUMNS)}, got {', '.join(given)}")
    return rows


def match_attribute_records(rows: list[dict[str, str]], images: dict[str, Path], split: str,
                            flag: str) -> tuple[list[Record], int]:
    """Records for the images of one split; returns (records, images without labels)."""
    index = _index(images)
    records: list[Record] = []
    used: set[str] = set()
    for row in rows:
        if row.get("split") and row["split"].strip() != split:
            continue
        rel = next((index[k] for k in image_keys(row["image"].strip()) if k in index), None)
        if rel is None:
            continue
        used.add(rel)
        box = None
        if str(row.get("x0") or "").strip():
            try:
                box = tuple(float(row[c]) for c in BOX_COLUMNS)  # type: ignore[assignment]
            except ValueError:
                raise UsageError(f"{flag}: box of {row['image']!r} is not numeric") from None
            if box[2] <= box[0] or box[3] <= box[1]:  # type: ignore[index]
                raise UsageError(f"{flag}: box of {row['image']!r} has x1 <= x0 or y1 <= y0: {box}")
        attrs = {k: v.strip() for k, v in row.items()
                 if k not in KEY_COLUMNS and v is not None and str(v).strip()}
        records.append(Record(images[rel], box, attrs))
    if not records:
        label_names = [r["image"] for r in rows[:3]]
        raise UsageError(f"{flag}: none of the {len(images)} {split} images has a label "
                         f"(images like {list(images)[:3]}, labels like {label_names}); "
                         "label files name images by path relative to the split folder or by "
                         "file name")
    return records, len(images) - len(used)


# -- detection labels -----------------------------------------------------------------------
def read_coco(path: str | Path, flag: str, category: str | None) -> dict[str, np.ndarray]:
    """COCO JSON -> {file_name: (N, 4) x0, y0, x1, y1} for one category (crowd boxes dropped)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file")
    if path.suffix.lower() != ".json":
        raise UsageError(f"{flag} {path}: --task detect needs COCO JSON (a .json file with "
                         "'images' and 'annotations')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag} {path}: cannot parse JSON ({exc})") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise UsageError(f"{flag} {path}: --task detect needs COCO JSON with 'images' and "
                         "'annotations'")
    categories = {c["id"]: c.get("name", str(c["id"])) for c in data.get("categories", [])}
    if category is not None:
        wanted = {i for i, n in categories.items() if n == category}
        if not wanted:
            raise UsageError(f"{flag} {path}: no category {category!r}; found "
                             f"{sorted(categories.values())}")
    elif len(categories) <= 1:
        wanted = set(categories) or {a.get("category_id") for a in data["annotations"]}
    else:
        wanted = {i for i, n in categories.items() if n == "person"}
        if not wanted:
            raise UsageError(f"{flag} {path}: several categories and none named 'person'; "
                             f"pick one with --category (found {sorted(categories.values())})")
    files = {im["id"]: im["file_name"] for im in data["images"]}
    boxes: dict[str, list] = {name: [] for name in files.values()}
    for ann in data["annotations"]:
        if ann.get("category_id") not in wanted or ann.get("iscrowd", 0):
            continue
        if ann["image_id"] not in files:
            raise UsageError(f"{flag} {path}: annotation {ann.get('id')} refers to unknown "
                             f"image_id {ann['image_id']}")
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w > 0 and h > 0:
            boxes[files[ann["image_id"]]].append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in boxes.items()}


def match_coco(coco: dict[str, np.ndarray], images: dict[str, Path], split: str,
               flag: str) -> tuple[list[Record], int]:
    index = _index(images)
    records, used = [], set()
    for name, boxes in coco.items():
        rel = next((index[k] for k in image_keys(name) if k in index), None)
        if rel is None or rel in used:
            continue
        used.add(rel)
        records.append(Record(images[rel], boxes=boxes))
    if not records:
        raise UsageError(f"{flag}: none of the {len(images)} {split} images is in the COCO file "
                         f"(images like {list(images)[:3]}, COCO file_names like "
                         f"{list(coco)[:3]})")
    return records, len(images) - len(used)


# -- loading into memory --------------------------------------------------------------------
def _open(path: Path) -> Any:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read image {path}: {exc}") from None


def load_classify(name: str, records: list[Record], classes: dict[str, list[str]], size: int,
                  unmatched: int = 0) -> Split:
    """Crops (with 10 % context around a person box) resized to size x size."""
    import torch
    from PIL import Image

    images = np.zeros((len(records), size, size, 3), np.uint8)
    labels = np.full((len(records), len(classes)), -1, np.int64)
    cache: dict[Path, Any] = {}
    for i, rec in enumerate(records):
        if rec.path not in cache:
            cache = {rec.path: _open(rec.path)}  # records of one image are usually adjacent
        img = cache[rec.path]
        if rec.box is not None:
            x0, y0, x1, y1 = rec.box
            mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
            img = img.crop((max(0, x0 - mx), max(0, y0 - my), min(img.width, x1 + mx),
                            min(img.height, y1 + my)))
        images[i] = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR))
        for j, (attr, values) in enumerate(classes.items()):
            value = rec.attributes.get(attr)
            if value is not None and value in values:
                labels[i, j] = values.index(value)
    return Split(name, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                 labels=torch.from_numpy(labels), unmatched=unmatched,
                 sources=[str(r.path) for r in records])


def load_detect(name: str, records: list[Record], size: int, unmatched: int = 0) -> Split:
    """Letterboxed to size x size (scaled to fit, padded right and bottom), boxes scaled."""
    import torch
    from PIL import Image

    images = np.zeros((len(records), size, size, 3), np.uint8)
    boxes = []
    for i, rec in enumerate(records):
        img = _open(rec.path)
        scale = size / max(img.width, img.height)
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        images[i, :h, :w] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
        b = (rec.boxes if rec.boxes is not None else np.zeros((0, 4), np.float32)) * scale
        boxes.append(np.clip(b, 0, size).astype(np.float32))
    return Split(name, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), boxes=boxes,
                 unmatched=unmatched, sources=[str(r.path) for r in records])


def attribute_classes(train_records: list[Record]) -> dict[str, list[str]]:
    """Each attribute's classes, from the training splits (sorted for stable indices)."""
    values: dict[str, set[str]] = {}
    for rec in train_records:
        for k, v in rec.attributes.items():
            values.setdefault(k, set()).add(v)
    classes = {k: sorted(v) for k, v in sorted(values.items()) if len(v) >= 2}
    if not classes:
        raise UsageError("the labels have no attribute with at least two values in the "
                         f"training data (found {sorted(values)}); nothing to classify")
    return classes
