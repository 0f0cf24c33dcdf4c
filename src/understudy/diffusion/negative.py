"""CAMOUFLaGE-Base's sampler: positive multi-ControlNet control, identity-function negative
control, combined with the anonymization scale a_s (derivation in docs/camouflage.md).

Per denoising step, with z_t the latent, c the caption and z_0 the original's VAE latent:

    eps_pos = eps(z_t, "")  + g * (eps(z_t, c) - eps(z_t, ""))     both with the positive
                                                                    ControlNets' residuals
    eps_neg = eps(z_t, "" | IDF(z_0))                               the negative control
    eps     = eps_neg + a_s * (eps_pos - eps_neg)

a_s = 0 follows the negative control alone, which reproduces the original (an IDF
ControlNet is trained so that it does); a_s = 1 is the positive-control image; a_s > 1
extrapolates away from the original, as classifier-free guidance does away from the
unconditional prediction. Sampling starts from z_0 noised to ``strength`` (img2img).

The loop is written out here rather than borrowed from a diffusers pipeline because the
negative branch has no place in theirs; it uses the same components (unet, vae,
text_encoder, tokenizer, scheduler, ControlNetModel) and the same scheduler calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from understudy.diffusion.loading import import_torch, is_latent_controlnet_config


@dataclass
class PositiveControl:
    """One positive ControlNet and its control map, ``(H, W, 3) uint8`` RGB."""

    name: str
    net: Any
    image: np.ndarray
    weight: float = 1.0


class NegativeControl(Protocol):
    """The negative branch: a noise prediction that leads back to the original."""

    def predict(self, unet: Any, latents: Any, t: Any, text: Any, original_latent: Any,
                original_pixels: Any) -> Any: ...


@dataclass
class IdentityControl:
    """The identity-function ControlNet as negative control.

    An IDF ControlNet (``understudy train idf``) reads the original's VAE latent (4
    channels at latent size, scaled by the VAE's scaling factor). Any other ControlNet that
    reproduces its input, such as a tile ControlNet, reads the original's pixels in [0, 1];
    which one a net is, is read from its config.
    """

    net: Any
    weight: float = 1.0

    @property
    def latent_conditioned(self) -> bool:
        return is_latent_controlnet_config(self.net.config)

    def predict(self, unet: Any, latents: Any, t: Any, text: Any, original_latent: Any,
                original_pixels: Any) -> Any:
        cond = original_latent if self.latent_conditioned else original_pixels
        down, mid = self.net(latents, t, encoder_hidden_states=text,
                             controlnet_cond=cond.to(latents.dtype),
                             conditioning_scale=self.weight, return_dict=False)
        return unet(latents, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid, return_dict=False)[0]


def combine(eps_pos: Any, eps_neg: Any, anonymization_scale: float) -> Any:
    """CFG-style combination: a_s = 0 -> negative, 1 -> positive, > 1 -> away from negative."""
    return eps_neg + anonymization_scale * (eps_pos - eps_neg)


class CamouflageSampler:
    """Run the CAMOUFLaGE-Base loop on one image, or a batch of same-size images (``sample``),
    with SD components (any device/dtype)."""

    def __init__(self, unet: Any, vae: Any, text_encoder: Any, tokenizer: Any, scheduler: Any):
        self.unet, self.vae, self.text_encoder = unet, vae, text_encoder
        self.tokenizer, self.scheduler = tokenizer, scheduler

    @classmethod
    def from_pipeline(cls, pipe: Any) -> "CamouflageSampler":
        return cls(pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.scheduler)

    @property
    def device(self) -> Any:
        return self.unet.device

    @property
    def dtype(self) -> Any:
        return self.unet.dtype

    def encode_text(self, prompt: str | list[str]) -> Any:
        """CLIP text embeddings, ``(1, 77, D)`` for a prompt or ``(B, 77, D)`` for a list."""
        torch = import_torch()
        ids = self.tokenizer(prompt, padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length,
                             return_tensors="pt").input_ids.to(self.text_encoder.device)
        with torch.no_grad():
            return self.text_encoder(ids)[0].to(self.dtype)

    def to_pixels(self, image: np.ndarray) -> Any:
        """``(H, W, 3)`` or ``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` in [0, 1] on the
        UNet's device."""
        torch = import_torch()
        array = np.ascontiguousarray(image)
        if array.ndim == 3:
            array = array[None]
        t = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255.0
        return t.to(self.device, self.dtype)

    def encode_image(self, image: np.ndarray) -> Any:
        """The VAE latent (distribution mean, deterministic) scaled as SD expects; one row
        per image of a ``(B, H, W, 3)`` stack."""
        torch = import_torch()
        with torch.no_grad():
            x = self.to_pixels(image).to(self.vae.dtype) * 2 - 1
            latent = self.vae.encode(x).latent_dist.mean
        return (latent * self.vae.config.scaling_factor).to(self.dtype)

    def decode(self, latents: Any) -> np.ndarray:
        """The first latent of ``latents`` as ``(H, W, 3)`` uint8 (``decode_all`` for all)."""
        return self.decode_all(latents[:1])[0]

    def decode_all(self, latents: Any) -> list[np.ndarray]:
        torch = import_torch()
        with torch.no_grad():
            x = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor,
                                return_dict=False)[0]
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte()
        return list(x.permute(0, 2, 3, 1).cpu().numpy())

    def __call__(self, image: np.ndarray, prompt: str, positive: list[PositiveControl],
                 negative: NegativeControl | None, negative_prompt: str = "", steps: int = 20,
                 strength: float = 0.8, guidance_scale: float = 7.5,
                 anonymization_scale: float = 1.0, generator: Any = None,
                 output_type: str = "np") -> Any:
        """Anonymize ``image`` (``(H, W, 3) uint8``, H and W multiples of 8).

        Returns ``(H, W, 3) uint8``, or the final latent with ``output_type="latent"``.
        ``negative`` may be None only when ``anonymization_scale`` is 1 (pure positive).
        """
        out = self.sample([image], [prompt], positive, negative, negative_prompt, steps,
                          strength, guidance_scale, anonymization_scale, [generator],
                          output_type)
        return out if output_type == "latent" else out[0]

    def sample(self, images: list[np.ndarray], prompts: list[str],
               positive: list[PositiveControl], negative: NegativeControl | None,
               negative_prompt: str = "", steps: int = 20, strength: float = 0.8,
               guidance_scale: float = 7.5, anonymization_scale: float = 1.0,
               generators: list[Any] | None = None, output_type: str = "np") -> Any:
        """Anonymize a batch of same-size images in one pass through the networks.

        Each image has its own prompt and generator, and each ``PositiveControl.image`` is
        then a ``(B, H, W, 3)`` stack (or one ``(H, W, 3)`` map for all): the initial noise
        is drawn per image from its own generator, so an image's result does not depend on
        the batch it ran in (up to float rounding of batched kernels). Returns a list of
        ``(H, W, 3) uint8``, or the ``(B, 4, h, w)`` latents with ``output_type="latent"``.
        """
        torch = import_torch()
        a_s = float(anonymization_scale)
        n = len(images)
        if negative is None and a_s != 1.0:
            raise ValueError("anonymization_scale != 1 needs a negative control")
        if n == 0 or len(prompts) != n:
            raise ValueError(f"sample needs one prompt per image, got {len(prompts)} prompts "
                             f"for {n} images")
        generators = list(generators) if generators is not None else [None] * n
        if len(generators) != n:
            raise ValueError(f"sample needs one generator per image, got {len(generators)} "
                             f"for {n} images")
        with torch.no_grad():
            stack = np.stack(images)
            z0 = self.encode_image(stack)
            pixels = self.to_pixels(stack)
            cond = self.encode_text(list(prompts))
            uncond = self.encode_text([negative_prompt] * n)
            # The IDF ControlNet is trained with the empty prompt (it reconstructs from the
            # latent alone), so its branch gets the empty prompt here too.
            empty = self.encode_text([""] * n) if a_s != 1.0 else None
            maps = [(c, self._batch_map(c.image, n)) for c in positive]
            self.scheduler.set_timesteps(steps, device=self.device)
            # img2img: skip the first (1 - strength) of the schedule, start from z0 noised there.
            n_run = min(max(int(round(steps * strength)), 1), steps)
            timesteps = self.scheduler.timesteps[steps - n_run:]
            noise = torch.cat([torch.randn((1, *z0.shape[1:]), generator=g, dtype=torch.float32,
                                           device="cpu") for g in generators])
            latents = self.scheduler.add_noise(z0, noise.to(self.device, self.dtype),
                                               timesteps[:1])
            use_cfg = guidance_scale > 1.0
            for t in timesteps:
                eps_pos = eps_neg = None
                if a_s != 0.0 or negative is None:
                    eps_pos = self._positive(latents, t, cond, uncond if use_cfg else None, maps,
                                             guidance_scale)
                if a_s != 1.0:
                    eps_neg = negative.predict(self.unet, latents, t, empty, z0, pixels)
                if eps_pos is None:
                    eps = eps_neg
                elif eps_neg is None:
                    eps = eps_pos
                else:
                    eps = combine(eps_pos, eps_neg, a_s)
                latents = self.scheduler.step(eps, t, latents, return_dict=False)[0]
        if output_type == "latent":
            return latents
        return self.decode_all(latents)

    def _batch_map(self, image: np.ndarray, n: int) -> Any:
        """A control map as ``(n, 3, H, W)``: a ``(B, H, W, 3)`` stack or one shared map."""
        pixels = self.to_pixels(image)
        if pixels.shape[0] == n:
            return pixels
        if pixels.shape[0] == 1:
            return pixels.expand(n, -1, -1, -1)
        raise ValueError(f"a control map stack of {pixels.shape[0]} for a batch of {n} images")

    def _positive(self, latents: Any, t: Any, cond: Any, uncond: Any | None,
                  maps: list[tuple[PositiveControl, Any]], guidance_scale: float) -> Any:
        """The text-guided, multi-ControlNet noise prediction (ControlNets' residuals summed,
        each scaled by its weight, as diffusers' multi-ControlNet does)."""
        torch = import_torch()
        # A batch of B runs as 2B rows with CFG: [uncond_1..B, cond_1..B].
        text = cond if uncond is None else torch.cat([uncond, cond])
        copies = text.shape[0] // latents.shape[0]
        x = latents.repeat(copies, 1, 1, 1)
        down_sum = mid_sum = None
        for control, pixels in maps:
            down, mid = control.net(x, t, encoder_hidden_states=text,
                                    controlnet_cond=pixels.repeat(copies, 1, 1, 1),
                                    conditioning_scale=control.weight, return_dict=False)
            if down_sum is None:
                down_sum, mid_sum = list(down), mid
            else:
                down_sum = [a + b for a, b in zip(down_sum, down)]
                mid_sum = mid_sum + mid
        eps = self.unet(x, t, encoder_hidden_states=text, down_block_additional_residuals=down_sum,
                        mid_block_additional_residual=mid_sum, return_dict=False)[0]
        if uncond is None:
            return eps
        eps_u, eps_c = eps.chunk(2)
        return eps_u + guidance_scale * (eps_c - eps_u)
