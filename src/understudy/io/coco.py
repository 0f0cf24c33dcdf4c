"""COCO annotations as input (people instead of detection) and as output (carried over).

``--annotations coco.json`` uses the person boxes, masks (polygons or RLE) and keypoints of an
existing COCO file. Anonymization keeps people's places and poses, so the same annotations stay
valid for the outputs: ``carry_annotations`` writes them next to the outputs, ids unchanged,
restricted to the images that were processed.

Reading and writing only: turning annotated people into a perception stage (with pose) is
``understudy.perception.coco``.

Image ``file_name``s are paths relative to the image root (the input folder); absolute
paths and ``..`` are refused, so an annotation file cannot point the tool at files outside
the dataset. An image is matched on its relative path. A ``file_name`` that gives less (a
base name, for an input folder that nests the images) is accepted only when the image root
is known and that name fits exactly one image under it: one record must never describe the
people of two images.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from understudy.errors import InputError, MissingDependency, UsageError
from understudy.scene import Frame, Person

CARRIED_NAME = "annotations.json"
@dataclass
class CocoAnnotations:
    """A validated COCO file: images by normalized ``file_name`` and their person annotations."""

    path: str
    data: dict[str, Any]
    images: dict[str, dict[str, Any]]  # normalized file_name -> image record
    people: dict[int, list[dict[str, Any]]]  # image id -> person annotations
    person_categories: set[int]
    digest: str = ""  # sha256 of the content: caches must not outlive an edit of the file
    image_root: str | None = None  # the folder file names are relative to, when known
    _under_root: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path: str, image_root: str | None = None) -> "CocoAnnotations":
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"--annotations {path}: no such file")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"--annotations {path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, path, image_root)

    @classmethod
    def from_dict(cls, data: Any, path: str = "<annotations>",
                  image_root: str | None = None) -> "CocoAnnotations":
        where = f"--annotations {path}"
        if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
                or not isinstance(data.get("annotations"), list):
            raise UsageError(f"{where}: not a COCO file (needs 'images' and 'annotations' lists)")
        categories = data.get("categories") or []
        person_categories = {c.get("id") for c in categories
                             if isinstance(c, dict) and c.get("name") == "person"}
        if not person_categories:
            names = ", ".join(str(c.get("name")) for c in categories if isinstance(c, dict))
            raise UsageError(f"{where}: no category named 'person' (categories: {names or 'none'})")
        images: dict[str, dict[str, Any]] = {}
        ids: set[int] = set()
        for i, image in enumerate(data["images"]):
            if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) \
                    or not isinstance(image.get("id"), int):
                raise UsageError(f"{where}: images[{i}] needs an integer 'id' and a 'file_name'")
            name = safe_relative(image["file_name"], where)
            if image["id"] in ids:
                raise UsageError(f"{where}: image id {image['id']} appears twice")
            if name in images:
                raise UsageError(f"{where}: file_name {name!r} appears twice")
            for key in ("width", "height"):
                if key in image and not (isinstance(image[key], int) and image[key] > 0):
                    raise UsageError(f"{where}: images[{i}] {key} must be a positive integer, "
                                     f"got {image[key]!r}")
            ids.add(image["id"])
            images[name] = image
        people: dict[int, list[dict[str, Any]]] = {}
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict):
                raise UsageError(f"{where}: annotations[{i}] is not an object")
            if ann.get("image_id") not in ids:
                raise UsageError(f"{where}: annotations[{i}] refers to image_id "
                                 f"{ann.get('image_id')!r}, which is not among the images")
            if ann.get("category_id") not in person_categories:
                continue
            _check_annotation(ann, f"{where}: annotations[{i}] (id {ann.get('id')})")
            people.setdefault(ann["image_id"], []).append(ann)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        return cls(str(path), data, images, people, person_categories, digest, image_root)

    def image_record(self, source: str) -> dict[str, Any] | None:
        """The image record for a frame source (a path relative to the input root), or None.

        The exact relative path first. Else, for COCO files that name images by their last
        path parts while the folder nests them, the one record whose name ends the source's
        path, provided that name fits no other image under ``image_root``; without an image
        root that cannot be checked, so there is no such fallback. ``InputError`` when the
        name is ambiguous.
        """
        name = _normal(source)
        if name in self.images:
            return self.images[name]
        keys = [key for key in self.images if name.endswith("/" + key)]
        if len(keys) > 1:
            raise InputError(f"{source}: matches {len(keys)} file_names in {self.path} "
                             f"({', '.join(sorted(keys)[:3])}); give its relative path")
        if not keys or self.image_root is None:
            return None
        images = self._images_named(keys[0])
        if len(images) > 1:
            shown = ", ".join(images[:3]) + (", ..." if len(images) > 3 else "")
            raise InputError(f"{source}: file_name {keys[0]!r} in {self.path} fits "
                             f"{len(images)} images ({shown}); give each its relative path")
        return self.images[keys[0]]

    def _images_named(self, key: str) -> list[str]:
        """Relative paths of the files under ``image_root`` whose path ends with ``key``; the
        root is walked once, keeping only names that some record's last part matches."""
        if self._under_root is None:
            wanted = {PurePosixPath(k).name for k in self.images}
            found: dict[str, list[str]] = {}
            root = self.image_root or "."
            for folder, _dirs, files in os.walk(root):
                for file in files:
                    if file in wanted:
                        rel = os.path.relpath(os.path.join(folder, file), root)
                        found.setdefault(file, []).append(_normal(rel))
            self._under_root = found
        return sorted(p for p in self._under_root.get(PurePosixPath(key).name, [])
                      if p == key or p.endswith("/" + key))

    def people_for(self, frame: Frame) -> list[Person]:
        record = self.image_record(frame.source)
        if record is None:
            raise InputError(f"{frame.source}: not listed in the annotations file {self.path} "
                             f"(file_name must be the path relative to the input folder)")
        h, w = frame.size
        if (record.get("width", w), record.get("height", h)) != (w, h):
            raise InputError(f"{frame.source}: the annotations say {record.get('width')}x"
                             f"{record.get('height')} but the image is {w}x{h}")
        return [_person(ann, (h, w)) for ann in self.people.get(record["id"], [])]

def _normal(path: str) -> str:
    return str(PurePosixPath(path.replace("\\", "/")))


def safe_relative(name: str, where: str) -> str:
    """A ``file_name`` as a normalized relative POSIX path; absolute paths and ``..`` refused."""
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts or (len(text) > 1 and text[1] == ":"):
        raise UsageError(f"{where}: image file_name {name!r} points outside the image root "
                         "(absolute paths and '..' are refused)")
    return str(path)


def _check_annotation(ann: dict[str, Any], where: str) -> None:
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4
            and all(isinstance(v, (int, float)) for v in bbox) and bbox[2] >= 0 and bbox[3] >= 0):
        raise UsageError(f"{where}: bbox must be [x, y, width, height] with width, height >= 0, "
                         f"got {bbox!r}")
    seg = ann.get("segmentation")
    if seg is not None and not (isinstance(seg, list) and all(isinstance(p, list) for p in seg)) \
            and not (isinstance(seg, dict) and "counts" in seg and "size" in seg):
        raise UsageError(f"{where}: segmentation must be a list of polygons or an RLE "
                         "{'counts', 'size'}")
    kps = ann.get("keypoints")
    if kps is not None and not (isinstance(kps, list) and len(kps) % 3 == 0
                                and all(isinstance(v, (int, float)) for v in kps)):
        raise UsageError(f"{where}: keypoints must be a flat list of x, y, v triples")


def _person(ann: dict[str, Any], size: tuple[int, int]) -> Person:
    h, w = size
    x, y, bw, bh = [float(v) for v in ann["bbox"]]
    box = np.array([max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)], np.float32)
    mask = _decode_segmentation(ann.get("segmentation"), size)
    k2, fmt = None, "mediapipe33"
    if ann.get("keypoints"):
        k = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        # COCO v: 0 not labelled, 1 labelled but hidden, 2 visible.
        k[:, 2] = np.select([k[:, 2] >= 2, k[:, 2] >= 1], [1.0, 0.5], 0.0)
        k2, fmt = k, "coco17" if len(k) == 17 else f"coco{len(k)}"
    crowd = bool(ann.get("iscrowd", 0))
    # A crowd region is many people at once: it can only be masked, never replaced.
    return Person(box=box, score=float(ann.get("score", 1.0)), mask=mask, keypoints2d=k2,
                  keypoint_format=fmt, uncertain=crowd, annotation_id=ann.get("id"))


def _decode_segmentation(seg: Any, size: tuple[int, int]) -> np.ndarray | None:
    if not seg:
        return None
    try:
        from pycocotools import mask as mask_utils
    except ImportError as exc:
        raise MissingDependency("pycocotools (COCO masks)", "pip install 'understudy[perception]'") \
            from exc
    h, w = size
    if isinstance(seg, list):
        polys = [p for p in seg if len(p) >= 6]
        if not polys:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    else:
        if list(seg["size"]) != [h, w]:
            raise InputError(f"an RLE mask of size {seg['size']} does not fit the {w}x{h} image")
        rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
    return mask_utils.decode(rle).astype(bool)


def carry_annotations(annotations_path: str, dst_dir: str, processed_sources: list[str]) -> str:
    """Write the annotations of the processed images to ``dst_dir/annotations.json``.

    Ids, categories and every field are kept as they are; images not processed (and their
    annotations) are left out. ``processed_sources`` are paths relative to the input root (an
    output name under a variant folder, ``as_1/x.jpg``, also matches ``x.jpg``).
    Returns the written path.
    """
    coco = CocoAnnotations.load(annotations_path)
    processed = {str(PurePosixPath(s.replace("\\", "/"))) for s in processed_sources}
    keep_ids = {rec["id"] for name, rec in coco.images.items()
                if name in processed or any(p.endswith("/" + name) for p in processed)}
    data = dict(coco.data)
    data["images"] = [im for im in coco.data["images"] if im["id"] in keep_ids]
    data["annotations"] = [a for a in coco.data["annotations"] if a.get("image_id") in keep_ids]
    out = Path(dst_dir) / CARRIED_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(out)
    return str(out)
