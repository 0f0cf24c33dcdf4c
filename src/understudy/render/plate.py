"""A clean background plate for videos from a still camera (issue 20, "steady look").

Inpainting each frame on its own fills the hole behind a walking person with a smooth guess
that changes from frame to frame, and it can only read the pixels around the hole. With a
still camera the real background behind a person was usually visible a moment earlier,
before they walked in front of it. ``BackgroundPlate`` keeps, for every pixel, the last
value seen while no person covered it; the hole is filled from there where the plate knows
the pixel, and inpainted only where nobody has seen the background yet.

What goes into the plate: only pixels outside every person's hole *and* outside the band
around it that inpainting must not read (``covered``), and only once the same value has been
seen on ``settle`` consecutive observations, so a passer-by the detectors missed, who moves,
does not settle into it. A camera that moves or a cut (most of the settled pixels change at
once) empties it. The fill is scaled to the frame's light, measured on the pixels around the
hole. Causal: frame ``t`` reads frames ``<= t`` only, so results do not depend on look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.errors import UsageError


@dataclass(frozen=True)
class PlateOptions:
    settle: int = 3  # consecutive agreeing observations before a pixel is trusted
    agree: float = 18.0  # a new value agrees with the plate within this (max over channels)
    max_age: int = 300  # frames after which a pixel's value is no longer trusted
    cut_share: float = 0.5  # share of settled pixels that changed at once: a cut or a pan
    ring: int = 8  # width of the band around the hole that measures the light, px

    def __post_init__(self) -> None:
        if self.settle < 1 or self.max_age < 1 or self.ring < 1:
            raise UsageError("plate settle, max_age and ring must be >= 1")
        if not 0 < self.cut_share <= 1:
            raise UsageError(f"plate cut_share must be in (0, 1], got {self.cut_share}")


class BackgroundPlate:
    """``plate.observe(image, covered, index)`` then ``plate.fill(image, hole, covered, index)``."""

    def __init__(self, options: PlateOptions | None = None) -> None:
        self.options = options or PlateOptions()
        self._value: np.ndarray | None = None  # (H, W, 3) float32
        self._count: np.ndarray | None = None  # (H, W) int32: agreeing observations in a row
        self._seen: np.ndarray | None = None  # (H, W) int32: frame of the last observation
        self.resets = 0  # cuts and camera moves detected (for the audit and tests)

    def observe(self, image: np.ndarray, covered: np.ndarray, index: int) -> None:
        """Learn the background from the pixels no person covers in this frame."""
        o = self.options
        if self._value is None or self._value.shape[:2] != image.shape[:2]:
            self._start(image.shape[:2])
        pixels = image.astype(np.float32)
        clean = ~covered
        differs = np.abs(pixels - self._value).max(axis=2) > o.agree
        settled = clean & self._trusted(index)
        if settled.sum() > 0.05 * settled.size and \
                (differs & settled).sum() > o.cut_share * settled.sum():
            self._start(image.shape[:2])  # the camera moved, or the video cut: start over
            self.resets += 1
            differs = np.ones(image.shape[:2], bool)
        same, new = clean & ~differs, clean & differs
        # A running mean of agreeing values follows slow light changes and sensor noise.
        # Whole-array updates under a mask: boolean indexing of a 768x576 frame took ~0.1 s
        # of every video frame.
        np.copyto(self._value, self._value + 0.3 * (pixels - self._value), where=same[..., None])
        np.copyto(self._value, pixels, where=new[..., None])
        self._count += same
        np.copyto(self._count, 1, where=new)
        np.copyto(self._seen, index, where=clean)

    def fill(self, image: np.ndarray, hole: np.ndarray, covered: np.ndarray, index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """``(image with the known hole pixels taken from the plate, those pixels)``; the rest
        of the hole is left as it was for the inpainter. ``covered`` (the hole and the band
        around it that may still hold a person) is never read for the light either."""
        if self._value is None or not hole.any():
            return image, np.zeros_like(hole)
        trusted = self._trusted(index)
        known = hole & trusted
        if not known.any():
            return image, known
        out = image.copy()
        out[known] = np.clip(self._value[known] * self._gain(image, covered, trusted), 0,
                             255).round().astype(np.uint8)
        return out, known

    def _trusted(self, index: int) -> np.ndarray:
        return (self._count >= self.options.settle) & (index - self._seen <= self.options.max_age)

    def _gain(self, image: np.ndarray, covered: np.ndarray, trusted: np.ndarray) -> np.ndarray:
        """Per-channel ratio of the frame to the plate just outside ``covered`` (the light
        now)."""
        from understudy.regions import dilate

        band = dilate(covered, self.options.ring) & ~covered & trusted
        if band.sum() < 32:
            return np.ones(3, np.float32)
        now = np.median(image[band].astype(np.float32), axis=0)
        then = np.median(self._value[band], axis=0)
        return np.clip((now + 1.0) / (then + 1.0), 0.8, 1.25).astype(np.float32)

    def _start(self, size: tuple[int, int]) -> None:
        self._value = np.zeros((*size, 3), np.float32)
        self._count = np.zeros(size, np.int32)
        self._seen = np.full(size, -(10**9), np.int32)
