"""RefSD stage 3: refine each composited person with Stable Diffusion img2img.

The crop around a person (the avatar in the inpainted scene) goes through img2img at
``strength`` with the person's attribute prompt, optionally guided by ControlNets: ``pose``
(the OpenPose skeleton drawn from the person's keypoints) and ``canny`` (Canny edges of the
rendered avatar, as the RefSD authors guide their refinement). The result is pasted back
inside the person's allowed region only, so the background outside stays unchanged.
Pipelines load through ``understudy.diffusion.loading``, the one loader of every method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from understudy.errors import UsageError

CONTROL_KINDS = ("pose", "canny")


@dataclass
class RefineOptions:
    model: str  # SD 1.x weights: hub id or local folder
    pose_controlnet: str | None = None
    canny_controlnet: str | None = None
    strength: float = 0.45  # img2img: 0 keeps the composite, 1 ignores it
    steps: int = 30
    guidance: float = 7.5
    control_scale: float = 0.8
    resolution: int = 512  # long side of the working crop (multiple of 8)
    padding: float = 0.15  # context around the person, share of the larger side
    device: str = "auto"
    dtype: str = "auto"
    offload: bool = False
    offline: bool = False

    def __post_init__(self) -> None:
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


class Refiner:
    """``refiner(image, allowed, prompt, negative, seed, controls) -> image``."""

    def __init__(self, options: RefineOptions, pipeline: Any = None):
        self.options = options
        self._pipe = pipeline

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
        (H, W, 3) uint8 control images by kind. Pixels outside ``allowed`` are untouched."""
        import torch
        from PIL import Image

        from understudy.diffusion.crops import Crop, paste
        from understudy.regions import dilate

        o = self.options
        crop = Crop.around(allowed, o.padding, o.resolution)
        if crop is None:
            return image
        pipe = self.pipeline()
        kwargs: dict[str, Any] = {}
        kinds = list(o.controlnets)
        if kinds:
            missing = [k for k in kinds if k not in controls]
            if missing:
                raise ValueError(f"no control image for {', '.join(missing)}")
            images = [Image.fromarray(crop.cut(controls[k])) for k in kinds]
            kwargs["control_image"] = images[0] if len(images) == 1 else images
            kwargs["controlnet_conditioning_scale"] = (
                o.control_scale if len(images) == 1 else [o.control_scale] * len(images))
        generator = torch.Generator("cpu").manual_seed(int(seed))
        work_h, work_w = crop.work
        result = pipe(prompt=prompt, negative_prompt=negative,
                      image=Image.fromarray(crop.cut(image)), strength=o.strength,
                      num_inference_steps=o.steps, guidance_scale=o.guidance,
                      generator=generator, output_type="np", height=work_h, width=work_w,
                      **kwargs) if kinds else \
            pipe(prompt=prompt, negative_prompt=negative, image=Image.fromarray(crop.cut(image)),
                 strength=o.strength, num_inference_steps=o.steps, guidance_scale=o.guidance,
                 generator=generator, output_type="np")
        generated = (np.clip(result.images[0], 0, 1) * 255).round().astype(np.uint8)
        out = image.copy()
        # The feather ramp must stay inside ``allowed``: paste the mask shrunk by the ramp.
        inner = ~dilate(~allowed, blend)
        paste(out, crop, generated, inner, blend)
        return out
