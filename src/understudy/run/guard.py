"""The fail-closed guard between every method and every output.

The guard trusts nothing a method says about itself. Every region of ``scene.regions()``
(faces, people, people found by any perception stage: the guard is generic over them) is
checked from the pixels, whatever outcome the method reports:

* ``replaced`` must be a real change across the region: at least ``MIN_CHANGED_SHARE`` of
  its pixels moved by ``CHANGE_LEVEL`` grey levels or more. A +2 shift, faint noise or a
  change of one corner does not pass.
* ``masked`` must be a solid fill; the guard fills the region itself either way.
* ``skipped`` is only believed for a region with no pixels (it lies outside the image).
* ``failed``, uncertain detections, a method that raises or returns a malformed result:
  filled solid.

Whatever fails a check is filled solid here and recorded as ``masked`` with the reason.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from understudy.regions import FAIL_CLOSED_COLOR, fill_solid, grown_person_mask, mask_bbox
from understudy.scene import Outcome, Region, RegionResult, Result, Scene

# A pixel "changed" when one of its channels moved by at least this many grey levels
# (0-255): above JPEG re-encoding noise (1-3) and any small tint or brightness shift.
CHANGE_LEVEL = 8
# Share of a region's pixels that must have changed for "replaced" to be believed. Measured
# on the bundled photos' faces: strong blur changes 87-98 % of them, weak blur 59-77 %,
# pixelation 64-79 %, a +2 shift or +-3 noise 0 %. 30 % leaves room for flat areas that a
# blur cannot change, while a method that touched only a corner of a face is caught.
MIN_CHANGED_SHARE = 0.30


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
            fill_solid(image, fail_closed_mask(region))
            records.append(RegionResult(region.kind, region.box, region.score, Outcome.MASKED,
                                        f"method {method.name} failed: {problem}",
                                        region.track_id))
        return Result(image, records, [f"method {method.name} failed: {problem}"])
    return enforce(scene, regions, result)


def enforce(scene: Scene, regions: list[Region], result: Result) -> Result:
    """Check every region of a well-formed result from the pixels; fill solid whatever
    fails, and record it as ``masked`` with the reason."""
    image = result.image.copy()
    verdicts = [verify(region, record, result.image, scene.image)
                for region, record in zip(regions, result.regions)]
    records = []
    # Fill after every verdict is in: a fill must not make a neighbour's check fail.
    for region, record, reason in zip(regions, result.regions, verdicts):
        if reason is not None:
            fill_solid(image, fail_closed_mask(region))
            record = dataclasses.replace(record, outcome=Outcome.MASKED, reason=reason)
        records.append(record)
    return Result(image, records, list(result.notes), scope=result.scope)


def fail_closed_mask(region: Region) -> np.ndarray:
    """What the guard fills: the region, a person's grown by ``person_margin`` like every
    whole-person method's (their soft edge, feet and hair, must not stay beside the fill)."""
    return grown_person_mask(region.mask) if region.kind == "person" else region.mask


def verify(region: Region, record: RegionResult, image: np.ndarray,
           original: np.ndarray) -> str | None:
    """Why ``region`` must be filled solid by the guard, or None when the claim holds."""
    if mask_bbox(region.mask) is None:
        return None  # no pixels: nothing to hide, any claim is harmless
    claim = record.outcome
    if region.uncertain:
        return "uncertain detection"
    if claim == Outcome.FAILED:
        return record.reason or "method could not process this region"
    if claim == Outcome.SKIPPED:
        return "method skipped a region it was given" + (f" ({record.reason})"
                                                         if record.reason else "")
    if claim == Outcome.MASKED:
        # Always refilled by the guard; the reason says whether the method's fill was there.
        return (record.reason or "masked by the method") if is_filled(image, region.mask) \
            else "method claimed masked but the region was not filled"
    if claim == Outcome.REPLACED:
        share = changed_share(image, original, region.mask)
        if share < MIN_CHANGED_SHARE:
            return (f"method left the region unchanged ({share:.0%} of its pixels changed by "
                    f">= {CHANGE_LEVEL} levels, {MIN_CHANGED_SHARE:.0%} required)")
        return None
    return f"unknown outcome {claim!r}"


def changed_share(image: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Share of ``mask``'s pixels where some channel moved by >= ``CHANGE_LEVEL``, computed
    on the mask's bounding box only: a face is a small part of a large photo."""
    x0, y0, x1, y1 = mask_bbox(mask)
    inside = mask[y0:y1, x0:x1]
    diff = np.abs(image[y0:y1, x0:x1].astype(np.int16) - original[y0:y1, x0:x1].astype(np.int16))
    return float((diff.max(axis=2)[inside] >= CHANGE_LEVEL).mean())


def mean_change(image: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference (0-255) over the pixels of ``mask`` (on its bounding box)."""
    x0, y0, x1, y1 = mask_bbox(mask)
    inside = mask[y0:y1, x0:x1]
    diff = np.abs(image[y0:y1, x0:x1].astype(np.int16) - original[y0:y1, x0:x1].astype(np.int16))
    return float(diff[inside].mean())


def is_filled(image: np.ndarray, mask: np.ndarray) -> bool:
    """True when every pixel of ``mask`` holds the fail-closed colour."""
    x0, y0, x1, y1 = mask_bbox(mask)
    fill = np.asarray(FAIL_CLOSED_COLOR, image.dtype)
    return bool((image[y0:y1, x0:x1][mask[y0:y1, x0:x1]] == fill).all())


def _contract_problem(scene: Scene, regions: list[Region], result: Result) -> str | None:
    if not isinstance(result, Result):
        return f"returned {type(result).__name__}, not Result"
    if not isinstance(result.image, np.ndarray) or result.image.shape != scene.image.shape \
            or result.image.dtype != np.uint8:
        shape = getattr(result.image, "shape", None)
        return f"returned an image of {shape} {getattr(result.image, 'dtype', None)}, " \
               f"expected {scene.image.shape} uint8"
    if len(result.regions) != len(regions):
        return f"reported {len(result.regions)} regions for {len(regions)}"
    if not all(isinstance(r, RegionResult) and isinstance(r.outcome, Outcome)
               for r in result.regions):
        return "reported a region record that is not a RegionResult with an Outcome"
    return None
