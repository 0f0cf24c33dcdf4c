"""The fail-closed guard between every method and every output.

Whatever a method returns (or raises), no region leaves this guard looking as it did:
regions a method reports as failed, uncertain detections, and regions a method claims to
have replaced but left unchanged are filled solid and recorded as ``masked`` with a reason.
"""

from __future__ import annotations

import numpy as np

from understudy.regions import fill_solid
from understudy.scene import Outcome, Region, RegionResult, Result, Scene

# A "replaced" region whose pixels moved by less than this mean absolute difference (0-255)
# was not anonymized: a blur of a flat patch, a method bug. Mask it.
MIN_MEAN_CHANGE = 1.0


def run_guarded(method, scene: Scene, rng: np.random.Generator) -> Result:
    """Run ``method`` on ``scene`` and enforce the fail-closed rules on its result."""
    regions = scene.regions()
    try:
        result = method.anonymize(scene, rng)
        problem = _contract_problem(scene, regions, result)
    except Exception as exc:  # a method bug must never leak a person: mask and report
        result, problem = None, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if problem is not None:
        image = scene.image.copy()
        records = []
        for region in regions:
            fill_solid(image, region.mask)
            records.append(RegionResult(region.kind, region.box, region.score, Outcome.MASKED,
                                        f"method {method.name} failed: {problem}",
                                        region.track_id))
        return Result(image, records, [f"method {method.name} failed: {problem}"])
    return enforce(scene, regions, result)


def enforce(scene: Scene, regions: list[Region], result: Result) -> Result:
    """Mask every failed, uncertain or unchanged region of a well-formed result."""
    image = result.image.copy()
    original = scene.image
    records = []
    for region, record in zip(regions, result.regions):
        reason = ""
        if region.uncertain and record.outcome != Outcome.SKIPPED:
            reason = "uncertain detection"
        elif record.outcome in (Outcome.FAILED,):
            reason = record.reason or "method could not process this region"
        elif record.outcome == Outcome.REPLACED and region.mask.any():
            change = mean_change(image, original, region.mask)
            if change < MIN_MEAN_CHANGE:
                reason = f"method left the region unchanged (mean change {change:.2f})"
        if reason:
            fill_solid(image, region.mask)
            record = RegionResult(record.kind, record.box, record.score, Outcome.MASKED, reason,
                                  record.track_id, record.attributes)
        records.append(record)
    return Result(image, records, list(result.notes))


def mean_change(image: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference (0-255) over the pixels of ``mask``, computed on its bounding
    box only: a face is a small part of a large photo."""
    from understudy.regions import mask_bbox

    x0, y0, x1, y1 = mask_bbox(mask)
    inside = mask[y0:y1, x0:x1]
    diff = np.abs(image[y0:y1, x0:x1].astype(np.int16) - original[y0:y1, x0:x1].astype(np.int16))
    return float(diff[inside].mean())


def _contract_problem(scene: Scene, regions: list[Region], result: Result) -> str | None:
    if not isinstance(result, Result):
        return f"returned {type(result).__name__}, not Result"
    if result.image.shape != scene.image.shape or result.image.dtype != np.uint8:
        return f"returned an image of {result.image.shape} {result.image.dtype}, " \
               f"expected {scene.image.shape} uint8"
    if len(result.regions) != len(regions):
        return f"reported {len(result.regions)} regions for {len(regions)}"
    return None
