"""Working crops for diffusion: cut a region with context, resize to what SD wants, paste
the result back inside the region's mask with a feathered edge.

SD works at about 512 px with sides that are multiples of 8 (the VAE downsamples by 8);
people in a dataset photo are often 100 px tall, so each person is generated in a crop
scaled up to the working size, which gives the model the pixels it needs for a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from understudy.regions import dilate, mask_bbox

VAE_FACTOR = 8
MIN_SIDE = 64


def work_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """``(H, W)`` with the long side ``resolution``, the aspect kept, both multiples of 8."""
    scale = resolution / max(height, width)
    h = max(MIN_SIDE, int(round(height * scale / VAE_FACTOR)) * VAE_FACTOR)
    w = max(MIN_SIDE, int(round(width * scale / VAE_FACTOR)) * VAE_FACTOR)
    return h, w


@dataclass(frozen=True)
class Crop:
    """A box of the image (``x0, y0, x1, y1``, exclusive) and its working size ``(H, W)``."""

    x0: int
    y0: int
    x1: int
    y1: int
    work: tuple[int, int]

    @classmethod
    def whole(cls, size: tuple[int, int], resolution: int) -> "Crop":
        h, w = size
        return cls(0, 0, w, h, work_size(h, w, resolution))

    @classmethod
    def around(cls, mask: np.ndarray, padding: float, resolution: int,
               min_pad: int = 0) -> "Crop | None":
        """The mask's box grown by ``padding`` of its larger side on every side (context for
        the model: shoulders around a head, ground under feet), at least ``min_pad`` px (the
        blend margin must lie inside the crop), clipped to the image."""
        bounds = mask_bbox(mask)
        if bounds is None:
            return None
        h, w = mask.shape
        x0, y0, x1, y1 = bounds
        pad = max(int(round(padding * max(x1 - x0, y1 - y0))), min_pad)
        x0, y0, x1, y1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
        return cls(x0, y0, x1, y1, work_size(y1 - y0, x1 - x0, resolution))

    def cut(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """The crop of ``image`` (an image or a mask) resized to the working size."""
        part = image[self.y0:self.y1, self.x0:self.x1]
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA if \
            part.shape[0] > self.work[0] else cv2.INTER_CUBIC
        if part.dtype == bool:
            return cv2.resize(part.astype(np.uint8), self.work[::-1],
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        return cv2.resize(part, self.work[::-1], interpolation=interp)

    def uncut(self, work_image: np.ndarray) -> np.ndarray:
        """A working-size image resized back to the crop's size."""
        size = (self.x1 - self.x0, self.y1 - self.y0)
        interp = cv2.INTER_AREA if work_image.shape[1] > size[0] else cv2.INTER_CUBIC
        return cv2.resize(work_image, size, interpolation=interp)


def feather(mask: np.ndarray, blend: int) -> np.ndarray:
    """A float alpha in [0, 1]: 1 on the mask and a ramp ``blend`` px wide outside it.

    Pixels farther than ``blend`` from the mask get exactly 0, so they stay bit-identical:
    the documented blend margin of the methods that paste back.
    """
    if blend <= 0:
        return mask.astype(np.float32)
    grown = dilate(mask, blend)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    alpha = np.clip(1.0 - dist / float(blend + 1), 0.0, 1.0).astype(np.float32)
    alpha[~grown] = 0.0
    alpha[mask] = 1.0
    return alpha


def paste(out: np.ndarray, crop: Crop, generated: np.ndarray, mask: np.ndarray,
          blend: int) -> None:
    """Blend a working-size ``generated`` image into ``out`` (in place) inside ``mask``
    (full-image bool) feathered by ``blend`` px; pixels beyond that margin are untouched."""
    alpha_full = feather(mask, blend)
    sl = (slice(crop.y0, crop.y1), slice(crop.x0, crop.x1))
    alpha = alpha_full[sl][:, :, None]
    region = out[sl]
    new = crop.uncut(generated).astype(np.float32)
    mixed = np.rint(alpha * new + (1 - alpha) * region.astype(np.float32)).astype(np.uint8)
    keep = alpha[:, :, 0] > 0
    region[keep] = mixed[keep]
