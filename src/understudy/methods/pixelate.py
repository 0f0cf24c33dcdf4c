"""Pixelation: each region becomes a coarse grid of flat blocks.

``blocks`` is the number of blocks across the region's larger side. Measured here: 16
blocks across a face no longer matched either recognizer, 8 left no detectable face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from understudy.errors import UsageError
from understudy.methods.regionwise import anonymize_regions
from understudy.scene import Region, Result, Scene


@dataclass
class PixelateOptions:
    blocks: int = 10

    def __post_init__(self) -> None:
        if not 2 <= int(self.blocks) <= 256:
            raise UsageError(f"pixelate blocks must be in 2..256, got {self.blocks}")


class Pixelate:
    name = "pixelate"

    def __init__(self, options: PixelateOptions | None = None):
        self.options = options or PixelateOptions()

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        def transform(crop: np.ndarray, mask: np.ndarray, region: Region) -> np.ndarray:
            h, w = crop.shape[:2]
            cell = max(max(h, w) / self.options.blocks, 1.0)
            small = (max(1, round(w / cell)), max(1, round(h / cell)))
            # Average only the region's own pixels into each block, so the background around
            # a face does not leak into (or out of) it: area-resize colour and mask together.
            weights = mask.astype(np.float32)
            summed = cv2.resize(crop.astype(np.float32) * weights[..., None], small,
                                interpolation=cv2.INTER_AREA)
            counts = cv2.resize(weights, small, interpolation=cv2.INTER_AREA)[..., None]
            blocks = np.where(counts > 1e-6, summed / np.maximum(counts, 1e-6), 0)
            blocks = np.clip(np.rint(blocks), 0, 255).astype(np.uint8)
            return cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST)

        return anonymize_regions(scene, transform)
