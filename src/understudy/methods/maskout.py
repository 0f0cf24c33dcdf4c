"""Mask-out: every region filled with one solid colour. The privacy floor of the RefSD
poster's table (MaskOut R@1 27.4) and the fill used when failing closed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.errors import UsageError
from understudy.methods.regionwise import anonymize_regions
from understudy.scene import Region, Result, Scene


def parse_color(value: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """``"#808080"``, ``"128,128,128"`` or a tuple → an RGB tuple."""
    if isinstance(value, tuple):
        rgb = value
    else:
        text = value.strip().lstrip("#")
        try:
            if "," in text:
                rgb = tuple(int(v) for v in text.split(","))
            else:
                rgb = tuple(int(text[i:i + 2], 16) for i in (0, 2, 4)) if len(text) == 6 else ()
        except ValueError:
            rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise UsageError(f"colour {value!r} is not valid; use '#rrggbb' or 'r,g,b' with 0..255")
    return tuple(int(c) for c in rgb)  # type: ignore[return-value]


@dataclass
class MaskOutOptions:
    color: str = "0,0,0"

    def __post_init__(self) -> None:
        parse_color(self.color)


class MaskOut:
    name = "maskout"

    def __init__(self, options: MaskOutOptions | None = None):
        self.options = options or MaskOutOptions()
        self.rgb = np.array(parse_color(self.options.color), np.uint8)

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        def transform(crop: np.ndarray, mask: np.ndarray, region: Region) -> np.ndarray:
            return np.broadcast_to(self.rgb, crop.shape).copy()

        return anonymize_regions(scene, transform)
