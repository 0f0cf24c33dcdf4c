"""Mask-SD baseline (the RefSD poster's "Mask-SD" row): mask each person and let Stable
Diffusion inpainting paint a new one from the attribute prompt.

Each region is grown by ``dilation`` px (a segmenter's mask misses hair, shadow and the
anti-aliased rim, which carry identity), cut with context, scaled to the working size and
inpainted at ``strength`` 1: SD's inpainting UNet sees the image with the mask blanked, so
none of the person's pixels reach the model. The result is pasted back inside the dilated
mask with a ``blend`` px feathered edge: pixels farther than ``dilation + blend`` px from
every region are bit-identical to the input (the documented margin).

Nothing keeps the pose: that is what separates it from RefSD and CAMOUFLaGE.

With ``batch_size`` > 1 the people of one image whose crops share a working size are
inpainted in one pipeline call (``understudy.diffusion.batching``: the batch halves on GPU
out-of-memory); each person keeps its own seeded generator, so the result matches
``batch_size=1`` up to the float rounding of batched kernels (see docs/scale.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError
from understudy.regions import dilate
from understudy.scene import EMPTY_REGION, Outcome, RegionResult, Result, Scene


@dataclass
class MaskSDOptions(DiffusionOptions):
    """``model`` is an SD inpainting checkpoint (9-channel UNet): hub id or folder."""

    strength: float = 1.0  # < 1 starts from the noised original: it leaks the person
    guidance_scale: float = 7.5
    resolution: int = 512
    padding: float = 0.25
    dilation: int = 8
    blend: int = 4
    attributes: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    batch_size: int = 1  # people inpainted together (--batch-size)

    def __post_init__(self) -> None:
        checks = [("steps", self.steps >= 1, ">= 1"),
                  ("strength", 0 < self.strength <= 1, "in (0, 1]"),
                  ("guidance_scale", self.guidance_scale >= 0, ">= 0"),
                  ("resolution", 64 <= self.resolution <= 2048 and self.resolution % 8 == 0,
                   "a multiple of 8 in [64, 2048]"),
                  ("padding", 0 <= self.padding <= 2, "in [0, 2]"),
                  ("dilation", 0 <= self.dilation <= 128, "in [0, 128] px"),
                  ("blend", 0 <= self.blend <= 64, "in [0, 64] px"),
                  ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1,
                   "an integer >= 1")]
        for name, ok, allowed in checks:
            if not ok:
                raise UsageError(f"masksd {name}={getattr(self, name)!r} is not allowed; "
                                 f"use {allowed}")

    @property
    def margin(self) -> int:
        """How far outside a region's mask pixels may change."""
        return self.dilation + self.blend


class MaskSD:
    name = "masksd"

    def __init__(self, options: MaskSDOptions | None = None):
        self.options = options or MaskSDOptions()
        self._pipe: Any = None
        from understudy.diffusion.batching import AdaptiveBatcher, BatchingOptions

        # One batcher per method: a batch size shrunk by out-of-memory stays shrunk.
        self.batcher = AdaptiveBatcher(BatchingOptions(batch_size=self.options.batch_size))

    def pipeline(self) -> Any:
        if self._pipe is None:
            from understudy.diffusion.loading import SHARED, load_pipeline

            o = self.options
            if not o.model:
                raise UsageError("method masksd needs SD inpainting weights: set model (--model) "
                                 "to a hub id such as stable-diffusion-v1-5/"
                                 "stable-diffusion-inpainting or a local folder")
            self._pipe = SHARED.get(
                ("inpaint", o.model, o.offload, o.dtype, o.device, o.offline),
                lambda: load_pipeline(o.model, "inpaint", dtype=o.dtype, device=o.device,
                                      offload=o.offload, offline=o.offline))
        return self._pipe

    def margin_for(self, mask: np.ndarray) -> int:
        """Pixels this far outside a region may change: the dilation and the blend."""
        return self.options.margin

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        from understudy.attributes import parse_attributes
        from understudy.diffusion.crops import Crop, paste
        from understudy.diffusion.batching import Failed

        o = self.options
        self.pipeline()  # a missing or wrong model is the user's error: raise it first
        source = parse_attributes(o.attributes)
        regions = scene.regions()
        jobs: list[_Job | None] = []
        for i, region in enumerate(regions):
            region_rng = scene.rng_for(i, region)
            person = region.person
            attrs = source.for_person(i, region.track_id, region_rng, scene.frame.source,
                                      person.attributes if person is not None else None)
            mask = dilate(region.mask, o.dilation)
            crop = Crop.around(mask, o.padding, o.resolution, min_pad=o.blend + 2)
            if crop is None:
                jobs.append(None)
                continue
            jobs.append(_Job(crop, mask, crop.cut(scene.image), crop.cut(mask),
                             o.prompt or attrs.prompt(), int(region_rng.integers(2**31)),
                             attrs))
        todo = [j for j in jobs if j is not None]
        # People whose crops share a working size are inpainted in one call.
        done = iter(self.batcher.map(self._inpaint, todo, key=lambda j: j.crop.work,
                                     errors="return"))
        out = scene.image.copy()
        records = []
        for region, job in zip(regions, jobs):
            if job is None:
                records.append(RegionResult(region.kind, region.box, region.score,
                                            Outcome.SKIPPED, EMPTY_REGION,
                                            region.track_id))
                continue
            image = next(done)
            if isinstance(image, Failed):  # the guard masks it
                records.append(RegionResult(region.kind, region.box, region.score,
                                            Outcome.FAILED, f"masksd: {image.reason}",
                                            region.track_id, job.attrs.to_json()))
                continue
            paste(out, job.crop, image, job.mask, o.blend)
            records.append(RegionResult(region.kind, region.box, region.score, Outcome.REPLACED,
                                        track_id=region.track_id, attributes=job.attrs.to_json()))
        return Result(out, records, [f"masksd: SD inpainting, margin {o.margin} px"])

    def _inpaint(self, jobs: list["_Job"]) -> list[np.ndarray]:
        """Inpaint same-size crops in one pipeline call, one seeded generator per crop."""
        from PIL import Image

        from understudy.attributes import NEGATIVE_PROMPT
        from understudy.diffusion.loading import import_torch

        torch = import_torch()
        o = self.options
        h, w = jobs[0].crop.work
        negative = o.negative_prompt if o.negative_prompt is not None else NEGATIVE_PROMPT
        images = self.pipeline()(
            prompt=[j.prompt for j in jobs], negative_prompt=[negative] * len(jobs),
            image=[Image.fromarray(j.image) for j in jobs],
            mask_image=[Image.fromarray(j.work_mask.astype(np.uint8) * 255) for j in jobs],
            height=h, width=w, num_inference_steps=o.steps, strength=o.strength,
            guidance_scale=o.guidance_scale,
            generator=[torch.Generator().manual_seed(j.seed) for j in jobs],
            output_type="np").images
        return [(np.clip(im, 0, 1) * 255).round().astype(np.uint8) for im in images]


@dataclass
class _Job:
    """One person's working crop: the dilated mask, the cut image and mask, prompt, seed."""

    crop: Any  # understudy.diffusion.crops.Crop
    mask: np.ndarray  # full-size dilated mask: where the result is pasted
    image: np.ndarray
    work_mask: np.ndarray
    prompt: str
    seed: int
    attrs: Any
