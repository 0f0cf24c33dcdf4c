"""Shared loop of the pixel baselines: transform each region's crop, paste it back inside
the region's mask only (a person's grown by ``regions.person_margin``, as every whole-person
method does), so pixels outside every region stay bit-identical."""

from __future__ import annotations

from typing import Callable

import numpy as np

from understudy.regions import grown_person_mask, mask_bbox
from understudy.scene import EMPTY_REGION, Outcome, Region, RegionResult, Result, Scene

# (crop (h, w, 3) uint8, mask crop (h, w) bool, region) -> transformed crop (h, w, 3) uint8
CropTransform = Callable[[np.ndarray, np.ndarray, Region], np.ndarray]


def anonymize_regions(scene: Scene, transform: CropTransform, pad: int = 0) -> Result:
    """Apply ``transform`` to the bounding crop of every region (grown by ``pad`` pixels of
    context, e.g. for a blur kernel) and composite the result inside the region's mask."""
    out = scene.image.copy()
    records: list[RegionResult] = []
    h, w = scene.frame.size
    for region in scene.regions():
        # The scene's mask is shared: grown into a new array, never in place.
        whole = grown_person_mask(region.mask) if region.kind == "person" else region.mask
        bounds = mask_bbox(whole)
        if bounds is None:
            records.append(RegionResult(region.kind, region.box, region.score, Outcome.SKIPPED,
                                        EMPTY_REGION, region.track_id))
            continue
        x0, y0, x1, y1 = bounds
        cx0, cy0, cx1, cy1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
        # Transform from the already-anonymized image so overlapping regions stay anonymized.
        crop = out[cy0:cy1, cx0:cx1]
        mask = whole[cy0:cy1, cx0:cx1]
        new = transform(crop.copy(), mask, region)
        crop[mask] = new[mask]
        records.append(RegionResult(region.kind, region.box, region.score, Outcome.REPLACED,
                                    track_id=region.track_id))
    return Result(out, records)


def region_extent(mask: np.ndarray) -> int:
    """The larger side of a mask's bounding box, in pixels (0 when empty)."""
    bounds = mask_bbox(mask)
    if bounds is None:
        return 0
    return max(bounds[2] - bounds[0], bounds[3] - bounds[1])
