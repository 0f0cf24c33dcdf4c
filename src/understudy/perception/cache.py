"""On-disk cache of perception results, keyed by the image's content and the perception setup.

Evaluation and re-runs must not detect everything twice (DeepPrivacy2 keys its detection cache
by image md5). The key is the sha256 of the pixels (with their shape) and of a context string
naming the models and settings, so a changed model or option never returns a stale result.
Entries are ``.npz`` files with numpy arrays and one JSON header (no pickle: a cache folder
may be shared, and loading must never run code). Writes are atomic (temp file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from understudy.scene import Face, Frame, Person, Scene

# 2: people carry ``source`` and MoveNet's ``keypoints_coco17``.
FORMAT_VERSION = 2


class PerceptionCache:
    """``cache.load(key, frame) -> Scene | None`` and ``cache.store(key, scene)``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder) / "perception"

    @staticmethod
    def key(frame: Frame, context: str) -> str:
        h = hashlib.sha256()
        # surrogateescape: the context names the file with --annotations, and a file name
        # that is not UTF-8 must still make a key (other names: the same bytes as before).
        text = f"v{FORMAT_VERSION}|{frame.image.shape}|{context}|"
        h.update(text.encode("utf-8", "surrogateescape"))
        h.update(np.ascontiguousarray(frame.image).data)
        if frame.moving is not None:  # a video frame's closer looks follow its motion
            h.update(b"moving")
            h.update(np.packbits(frame.moving).data)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str, frame: Frame) -> Scene | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return _decode(dict(data), frame)
        except (OSError, ValueError, KeyError):  # a damaged entry is a miss, not a failure
            return None

    def store(self, key: str, scene: Scene) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = _encode(scene)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _encode(scene: Scene) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    face_index = {id(f): i for i, f in enumerate(scene.faces)}
    header = {"target": scene.target, "faces": [], "people": []}
    for i, f in enumerate(scene.faces):
        arrays[f"face{i}_box"] = np.asarray(f.box, np.float32)
        if f.landmarks is not None:
            arrays[f"face{i}_landmarks"] = np.asarray(f.landmarks, np.float32)
        header["faces"].append({"score": float(f.score)})
    for i, p in enumerate(scene.people):
        arrays[f"person{i}_box"] = np.asarray(p.box, np.float32)
        if p.mask is not None:
            arrays[f"person{i}_mask"] = np.packbits(p.mask.astype(bool), axis=None)
        for name in ("keypoints2d", "keypoints3d", "keypoints_coco17"):
            value = getattr(p, name)
            if value is not None:
                arrays[f"person{i}_{name}"] = np.asarray(value, np.float32)
        extra = [f for f in p.faces if id(f) not in face_index]
        for j, f in enumerate(extra):  # a person's face that is not among scene.faces
            arrays[f"person{i}_face{j}_box"] = np.asarray(f.box, np.float32)
        header["people"].append({
            "score": float(p.score), "keypoint_format": p.keypoint_format,
            "faces": [face_index[id(f)] for f in p.faces if id(f) in face_index],
            "extra_faces": [float(f.score) for f in extra], "uncertain": bool(p.uncertain),
            "annotation_id": p.annotation_id, "source": p.source,
        })
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    return arrays


def _decode(data: dict[str, np.ndarray], frame: Frame) -> Scene:
    header = json.loads(bytes(data["header"]).decode())
    h, w = frame.size
    faces = [Face(box=data[f"face{i}_box"], score=m["score"],
                  landmarks=data.get(f"face{i}_landmarks"))
             for i, m in enumerate(header["faces"])]
    people = []
    for i, m in enumerate(header["people"]):
        mask = None
        if f"person{i}_mask" in data:
            mask = np.unpackbits(data[f"person{i}_mask"], count=h * w).reshape(h, w).astype(bool)
        own = [faces[j] for j in m["faces"]]
        own += [Face(box=data[f"person{i}_face{j}_box"], score=s)
                for j, s in enumerate(m["extra_faces"])]
        people.append(Person(box=data[f"person{i}_box"], score=m["score"], mask=mask,
                             keypoints2d=data.get(f"person{i}_keypoints2d"),
                             keypoints3d=data.get(f"person{i}_keypoints3d"),
                             keypoint_format=m["keypoint_format"], faces=own,
                             uncertain=m["uncertain"], annotation_id=m["annotation_id"],
                             source=m["source"],
                             keypoints_coco17=data.get(f"person{i}_keypoints_coco17")))
    return Scene(frame, people=people, faces=faces, target=header["target"])
