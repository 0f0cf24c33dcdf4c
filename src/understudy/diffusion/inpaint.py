"""Stage 1 of RefSD: remove people and fill the hole with background.

Two inpainters behind one call, ``Inpainter.__call__(image, hole) -> image``:

* ``classical`` (always available): OpenCV's Telea (default) or Navier-Stokes. Measured here,
  0.02-0.11 s per person, about 1.2 s for a 2-megapixel hole; holes larger than
  ``MAX_CLASSICAL_PIXELS`` are filled at a reduced scale and upsampled (these methods
  produce smooth fills, so little is lost).
* ``sd``: a Stable Diffusion inpainting pipeline (9-channel UNet) loaded through
  ``understudy.diffusion.loading``, run on a crop around each hole at ``size`` px with a
  prompt for empty background. Pixels outside the hole are never taken from SD's output.

Only the hole changes: every pixel outside it is returned bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError
from understudy.regions import dilate, mask_bbox

CLASSICAL = ("telea", "ns")
MAX_CLASSICAL_PIXELS = 250_000
BACKGROUND_PROMPT = "empty background, nobody, natural continuation of the scene, photo"
BACKGROUND_NEGATIVE = "person, people, human, body, face, man, woman, child, crowd"


@dataclass
class InpaintOptions(DiffusionOptions):
    """``model``: SD inpainting weights (hub id or folder) for method "sd"."""

    method: str = "telea"  # telea | ns | sd
    radius: int = 5  # neighbourhood of the classical methods, px
    steps: int = 25
    size: int = 512  # SD works on crops resized to this (a multiple of 8)
    guidance: float = 7.5

    def __post_init__(self) -> None:
        allowed = CLASSICAL + ("sd",)
        if self.method not in allowed:
            raise UsageError(f"inpaint method {self.method!r} is not known; allowed: "
                             f"{', '.join(allowed)}")
        if self.method == "sd" and not self.model:
            raise UsageError("inpaint method 'sd' needs inpaint model weights (a hub id such as "
                             "stable-diffusion-v1-5/stable-diffusion-inpainting or a folder)")
        if self.radius < 1:
            raise UsageError(f"inpaint radius must be >= 1 px, got {self.radius}")
        if self.size < 64 or self.size % 8:
            raise UsageError(f"inpaint size must be a multiple of 8 and >= 64, got {self.size}")
        if self.steps < 1:
            raise UsageError(f"inpaint steps must be >= 1, got {self.steps}")


def inpaint_classical(image: np.ndarray, hole: np.ndarray, method: str = "telea",
                      radius: int = 5, unread: np.ndarray | None = None) -> np.ndarray:
    """Fill ``hole`` ((H, W) bool) in ``image`` ((H, W, 3) uint8) with OpenCV; works on the
    hole's bounding crop (plus context) so cost follows the hole, not the photo.

    ``unread`` ((H, W) bool): pixels the fill must not read from, though they are kept in
    the output (a band around each person that may still hold their edge): the fill comes
    from outside ``hole | unread``; only ``hole`` is written."""
    import cv2

    out = image.copy()
    write = hole
    if unread is not None:
        hole = hole | unread
    bounds = mask_bbox(hole)
    if bounds is None:
        return out
    h, w = hole.shape
    pad = 4 * radius + 8
    x0, y0 = max(bounds[0] - pad, 0), max(bounds[1] - pad, 0)
    x1, y1 = min(bounds[2] + pad, w), min(bounds[3] + pad, h)
    crop = image[y0:y1, x0:x1]
    crop_hole = hole[y0:y1, x0:x1]
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    scale = min(1.0, float(np.sqrt(MAX_CLASSICAL_PIXELS / max(int(crop_hole.sum()), 1))))
    if scale < 1.0:
        small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(crop_hole.astype(np.uint8), (small.shape[1], small.shape[0]),
                                interpolation=cv2.INTER_NEAREST)
        small_hole = dilate(small_hole.astype(bool), 1).astype(np.uint8)
        filled = cv2.inpaint(small, small_hole * 255, radius, flag)
        filled = cv2.resize(filled, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_CUBIC)
    else:
        filled = cv2.inpaint(np.ascontiguousarray(crop), crop_hole.astype(np.uint8) * 255,
                             radius, flag)
    region = out[y0:y1, x0:x1]
    crop_write = write[y0:y1, x0:x1]
    region[crop_write] = filled[crop_write]
    return out


def square_crop(bounds: tuple[int, int, int, int], size: tuple[int, int],
                margin: float = 0.15) -> tuple[int, int, int, int]:
    """A square crop around ``bounds`` grown by ``margin`` of its side, shifted to stay inside
    the image (shrunk only when the image is smaller)."""
    h, w = size
    x0, y0, x1, y1 = bounds
    side = int(np.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    side = max(8, min(side, w, h)) if min(w, h) >= 8 else min(w, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx = int(np.clip(round(cx - side / 2), 0, w - side))
    sy = int(np.clip(round(cy - side / 2), 0, h - side))
    return sx, sy, sx + side, sy + side


class Inpainter:
    """``inpainter(image, hole, seed) -> image`` with only the hole changed."""

    def __init__(self, options: InpaintOptions | None = None, pipeline: Any = None):
        self.options = options or InpaintOptions()
        self._pipe = pipeline

    @property
    def uses_sd(self) -> bool:
        return self.options.method == "sd"

    def pipeline(self) -> Any:
        if self._pipe is None:
            from understudy.diffusion.loading import load_pipeline

            o = self.options
            self._pipe = load_pipeline(o.model, kind="inpaint", dtype=o.dtype, device=o.device,
                                       offload=o.offload, offline=o.offline)
        return self._pipe

    def __call__(self, image: np.ndarray, hole: np.ndarray, seed: int = 0,
                 parts: list[np.ndarray] | None = None,
                 unread: np.ndarray | None = None) -> np.ndarray:
        """Fill ``hole``. With SD, each of ``parts`` (per-person holes; default the whole
        hole) is inpainted on its own crop, after a classical fill that gives SD a
        neutral start instead of the person. The classical fill reads no pixel of
        ``unread`` (see ``inpaint_classical``)."""
        o = self.options
        classical = inpaint_classical(image, hole, "telea" if o.method == "sd" else o.method,
                                      o.radius, unread)
        if not self.uses_sd:
            return classical
        out = classical
        for k, part in enumerate(parts if parts is not None else [hole]):
            out = self._sd_fill(out, part & hole, seed + k)
        return out

    def _sd_fill(self, image: np.ndarray, hole: np.ndarray, seed: int) -> np.ndarray:
        import cv2
        import torch
        from PIL import Image

        bounds = mask_bbox(hole)
        if bounds is None:
            return image
        x0, y0, x1, y1 = square_crop(bounds, hole.shape)
        o = self.options
        crop = image[y0:y1, x0:x1]
        crop_hole = hole[y0:y1, x0:x1]
        size = o.size
        pil = Image.fromarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
        mask = Image.fromarray(cv2.resize(crop_hole.astype(np.uint8) * 255, (size, size),
                                          interpolation=cv2.INTER_NEAREST))
        pipe = self.pipeline()
        generator = torch.Generator("cpu").manual_seed(int(seed))
        result = pipe(prompt=BACKGROUND_PROMPT, negative_prompt=BACKGROUND_NEGATIVE, image=pil,
                      mask_image=mask, height=size, width=size, num_inference_steps=o.steps,
                      guidance_scale=o.guidance, generator=generator, output_type="np")
        fill = (np.clip(result.images[0], 0, 1) * 255).round().astype(np.uint8)
        fill = cv2.resize(fill, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
        out = image.copy()
        out[y0:y1, x0:x1][crop_hole] = fill[crop_hole]
        return out
