"""RefSD stage 3: refine each composited person with Stable Diffusion img2img.

The crop around a person (the avatar in the inpainted scene) goes through img2img at
``strength`` with the person's attribute prompt, optionally guided by ControlNets: ``pose``
(the OpenPose skeleton drawn from the person's keypoints) and ``canny`` (Canny edges of the
rendered avatar, as the RefSD authors guide their refinement). The result is pasted back
inside the person's allowed region only, so the background outside stays unchanged.
Pipelines load through ``understudy.diffusion.loading``, the one loader of every method.

People are refined far to near, each from the image as refined so far. With ``batch_size``
> 1, ``Refiner.refine_many`` refines in one pipeline call the people whose crops do not
overlap any crop refined before them in that order ("waves"), so it reads exactly the
pixels the one-by-one order would; crops of one wave that share a working size are batched
(``understudy.diffusion.batching``: the batch halves on GPU out-of-memory), each with its own
seeded generator. The result matches ``batch_size=1`` up to the float rounding of batched
kernels (see docs/scale.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError

CONTROL_KINDS = ("pose", "canny")


@dataclass
class RefineOptions(DiffusionOptions):
    """RefSD stage 3; ``model`` (SD 1.x weights: hub id or local folder) is required."""

    pose_controlnet: str | None = None
    canny_controlnet: str | None = None
    strength: float = 0.45  # img2img: 0 keeps the composite, 1 ignores it
    guidance: float = 7.5
    control_scale: float = 0.8
    resolution: int = 512  # long side of the working crop (multiple of 8)
    padding: float = 0.15  # context around the person, share of the larger side
    batch_size: int = 1  # people refined in one pipeline call (--batch-size)

    def __post_init__(self) -> None:
        if not self.model:
            raise UsageError("refsd stage 3 needs SD 1.x weights: set model to a hub id or folder")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"refsd batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not 0 < self.strength <= 1:
            raise UsageError(f"refsd strength must be in (0, 1], got {self.strength}")
        if self.steps < 1:
            raise UsageError(f"refsd steps must be >= 1, got {self.steps}")
        if self.resolution < 64 or self.resolution % 8:
            raise UsageError(f"refsd resolution must be a multiple of 8 and >= 64, "
                             f"got {self.resolution}")
        if int(self.steps * self.strength) < 1:
            raise UsageError(f"refsd runs int(steps * strength) denoising steps; steps="
                             f"{self.steps} at strength={self.strength} gives none: raise steps")
        if not 0 <= self.padding <= 1:
            raise UsageError(f"refsd padding must be in [0, 1], got {self.padding}")

    @property
    def controlnets(self) -> dict[str, str]:
        out = {"pose": self.pose_controlnet, "canny": self.canny_controlnet}
        return {k: v for k, v in out.items() if v}


@dataclass
class RefineJob:
    """One person to refine: where it may change ((H, W) bool), its prompts and seed, and
    full-size (H, W, 3) uint8 control images by kind."""

    allowed: np.ndarray
    prompt: str
    negative: str
    seed: int
    controls: dict[str, np.ndarray] = field(default_factory=dict)


class Refiner:
    """``refiner(image, allowed, prompt, negative, seed, controls) -> image`` for one person,
    ``refiner.refine_many(image, jobs)`` for all the people of an image, batched."""

    def __init__(self, options: RefineOptions, pipeline: Any = None):
        from understudy.diffusion.batching import AdaptiveBatcher, BatchingOptions

        self.options = options
        self._pipe = pipeline
        # One batcher per refiner: a batch size shrunk by out-of-memory stays shrunk.
        self.batcher = AdaptiveBatcher(BatchingOptions(batch_size=options.batch_size))

    def pipeline(self) -> Any:
        if self._pipe is None:
            from understudy.diffusion.loading import load_pipeline

            o = self.options
            nets = list(o.controlnets.values())
            kind = "controlnet-img2img" if nets else "img2img"
            self._pipe = load_pipeline(o.model, kind=kind, controlnets=nets or None,
                                       dtype=o.dtype, device=o.device, offload=o.offload,
                                       offline=o.offline)
        return self._pipe

    def __call__(self, image: np.ndarray, allowed: np.ndarray, prompt: str, negative: str,
                 seed: int, controls: dict[str, np.ndarray], blend: int = 4) -> np.ndarray:
        """Refine the crop around ``allowed`` ((H, W) bool); ``controls`` holds full-size
        (H, W, 3) uint8 control images by kind. Pixels outside ``allowed`` are untouched.
        An error is raised."""
        out, (failure,) = self.refine_many(image, [RefineJob(allowed, prompt, negative, seed,
                                                             controls)], blend)
        if failure is not None:
            raise failure.error
        return out

    def refine_many(self, image: np.ndarray, jobs: list[RefineJob], blend: int = 4
                    ) -> tuple[np.ndarray, list[Any]]:
        """Refine ``jobs`` in their order, each from the image as refined by the jobs
        before it. Returns the image and, per job, ``None`` (refined, or nothing to refine)
        or a ``understudy.diffusion.batching.Failed`` whose region is left as it was: the
        caller reports it failed. Pixels outside every ``allowed`` are untouched."""
        from understudy.diffusion.crops import Crop, paste
        from understudy.regions import dilate
        from understudy.diffusion.batching import Failed

        o = self.options
        kinds = list(o.controlnets)
        for job in jobs:
            missing = [k for k in kinds if k not in job.controls]
            if missing:
                raise ValueError(f"no control image for {', '.join(missing)}")
        crops = [Crop.around(job.allowed, o.padding, o.resolution) for job in jobs]
        out = image.copy()
        failures: list[Failed | None] = [None] * len(jobs)
        for wave in waves([None if c is None else (c.x0, c.y0, c.x1, c.y1) for c in crops]):
            # No crop of a wave overlaps another: cutting them all now reads what the
            # one-by-one order would, and pasting writes disjoint pixels.
            items = [(crops[i], jobs[i], crops[i].cut(out),
                      {k: crops[i].cut(jobs[i].controls[k]) for k in kinds}) for i in wave]
            results = self.batcher.map(self._run, items, key=lambda item: item[0].work,
                                       errors="return")
            for i, (crop, job, _, _), generated in zip(wave, items, results):
                if isinstance(generated, Failed):
                    failures[i] = generated
                    continue
                # The feather ramp must stay inside ``allowed``: paste the mask shrunk by it.
                inner = ~dilate(~job.allowed, blend)
                paste(out, crop, generated, inner, blend)
        return out, failures

    def _run(self, items: list[tuple[Any, RefineJob, np.ndarray, dict[str, np.ndarray]]]
             ) -> list[np.ndarray]:
        """One pipeline call for same-size crops, one seeded generator per crop."""
        import torch
        from PIL import Image

        o = self.options
        pipe = self.pipeline()
        kinds = list(o.controlnets)
        common: dict[str, Any] = dict(
            prompt=[job.prompt for _, job, _, _ in items],
            negative_prompt=[job.negative for _, job, _, _ in items],
            image=[Image.fromarray(cut) for _, _, cut, _ in items], strength=o.strength,
            num_inference_steps=o.steps, guidance_scale=o.guidance, output_type="np",
            generator=[torch.Generator("cpu").manual_seed(int(job.seed))
                       for _, job, _, _ in items])
        if kinds:
            # One (B, H, W, 3) stack in [0, 1] per ControlNet: diffusers refuses nested
            # lists of images for several ControlNets.
            stacks = [np.stack([maps[k] for _, _, _, maps in items]).astype(np.float32) / 255.0
                      for k in kinds]
            work_h, work_w = items[0][0].work
            common.update(control_image=stacks[0] if len(stacks) == 1 else stacks,
                          controlnet_conditioning_scale=(o.control_scale if len(stacks) == 1
                                                         else [o.control_scale] * len(stacks)),
                          height=work_h, width=work_w)
        images = pipe(**common).images
        return [(np.clip(im, 0, 1) * 255).round().astype(np.uint8) for im in images]


def waves(boxes: list[tuple[int, int, int, int] | None]) -> list[list[int]]:
    """Indices of ``boxes`` (``x0, y0, x1, y1``, exclusive; None = nothing to do) grouped
    into waves: a box goes one wave after the latest earlier box it overlaps, so boxes of a
    wave are pairwise disjoint and every box comes after the earlier ones it depends on."""
    levels: list[int] = []
    out: list[list[int]] = []
    for k, box in enumerate(boxes):
        if box is None:
            levels.append(-1)
            continue
        level = 0
        for j in range(k):
            other = boxes[j]
            if other is not None and _overlap(box, other):
                level = max(level, levels[j] + 1)
        levels.append(level)
        while len(out) <= level:
            out.append([])
        out[level].append(k)
    return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
