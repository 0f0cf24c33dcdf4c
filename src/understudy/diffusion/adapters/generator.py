"""The CAMOUFLaGE-Light denoising loop: img2img from the original's latent, steered by the
IP-Adapter (face embeddings, one per person, each masked to its region) and the T2I-Adapter
(the attribute/keypoint map).

Why a loop of our own rather than diffusers' ``StableDiffusionAdapterPipeline``: that one is
text-to-image only and cannot start from the original's latent, and we need per-person IP
masks and an embedding-noise control in the same call. The loop is short: one adapter pass
per image, then one UNet pass per step (two with classifier-free guidance).

Anonymization controls (see ``docs/camouflage-light.md``):

* ``strength``: the noise level the original's latent is pushed to, in (0, 1]; 1 discards
  the original's pixels entirely, lower keeps more of its layout and colours;
* ``ip_scale``: the weight of the face-embedding tokens; lower lets the model drift from the
  original's appearance;
* ``embedding_noise``: Gaussian noise, relative to the embedding's norm, added to each face
  embedding before it is projected; it moves the identity cue while keeping its coarse content;
* ``adapter_scale``: the weight of the attribute/keypoint features (attribute fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from understudy.errors import UsageError
from understudy.diffusion.adapters.networks import LightAdapters, adapter_features, set_ip_scale


@dataclass
class GenerationControls:
    """The per-call knobs of ``LightGenerator``; validated with teaching messages."""

    steps: int = 20
    strength: float = 0.8
    ip_scale: float = 0.6
    adapter_scale: float = 1.0
    embedding_noise: float = 0.3
    guidance_scale: float = 1.0  # > 1 adds a pass without the face tokens (classifier-free)

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise UsageError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not 0.0 < self.strength <= 1.0:
            raise UsageError(f"strength (noise level) must be in (0, 1], got {self.strength}")
        for name in ("ip_scale", "adapter_scale", "embedding_noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 4.0:
                raise UsageError(f"{name} must be in [0, 4], got {value}")
        if self.guidance_scale < 1.0:
            raise UsageError(f"guidance_scale must be >= 1 (1 turns guidance off), "
                             f"got {self.guidance_scale}")


@dataclass
class LightGenerator:
    """Frozen SD components plus the trained adapters; ``__call__`` runs one batch."""

    vae: Any
    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    adapters: LightAdapters

    @classmethod
    def from_pipeline(cls, pipe: Any, adapters: LightAdapters) -> "LightGenerator":
        return cls(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, adapters)

    @property
    def device(self) -> Any:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> Any:
        return next(self.unet.parameters()).dtype

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode_prompt(self, prompts: list[str]) -> Any:
        """Text states; Light uses an empty prompt at inference (captions are training-only)."""
        import torch

        tokens = self.tokenizer(prompts, padding="max_length", truncation=True,
                                max_length=self.tokenizer.model_max_length, return_tensors="pt")
        with torch.no_grad():
            return self.text_encoder(tokens.input_ids.to(self.device))[0].to(self.dtype)

    def __call__(self, image: Any, condition: Any, embeds: Any, controls: GenerationControls,
                 ip_masks: Any = None, prompt: str = "", generator: Any = None) -> Any:
        """Generate one batch.

        ``image``: ``(B, 3, H, W)`` in [-1, 1], H and W multiples of 8 (SD's VAE downsamples
        by 8) and of the adapter's total downscale; ``condition``: ``(B, C, H, W)`` the
        attribute/keypoint map; ``embeds``: ``(B, N, D)`` one image-encoder embedding per person;
        ``ip_masks``: ``(B, N, H, W)`` in [0, 1] (person ``n``'s tokens act only there) or None
        to let every token act everywhere (single-person crops). Returns ``(B, 3, H, W)`` in
        [-1, 1].
        """
        import torch

        b, _, h, w = image.shape
        factor = self.vae_scale * 2 ** (len(self.unet.config.block_out_channels) - 1)
        if h % factor or w % factor:
            raise UsageError(f"generation size {w}x{h} must be a multiple of {factor}")
        device, dtype = self.device, self.dtype
        image = image.to(device, dtype)
        condition = condition.to(device, dtype)
        embeds = embeds.to(device, dtype)
        if controls.embedding_noise > 0 and embeds.numel():
            noise = torch.randn(embeds.shape, generator=generator, device="cpu").to(device, dtype)
            norm = embeds.norm(dim=-1, keepdim=True) / embeds.shape[-1] ** 0.5
            embeds = embeds + controls.embedding_noise * norm * noise
        text = self.encode_prompt([prompt] * b)
        set_ip_scale(self.unet, controls.ip_scale)
        with torch.no_grad():
            latents0 = self.vae.encode(image).latent_dist.sample(generator) \
                * self.vae.config.scaling_factor
            features = adapter_features(self.adapters.t2i, self.unet, condition,
                                        tuple(latents0.shape[-2:]), controls.adapter_scale)
            self.scheduler.set_timesteps(controls.steps, device=device)
            start = min(int(round(controls.steps * controls.strength)), controls.steps)
            timesteps = self.scheduler.timesteps[controls.steps - start:]
            if hasattr(self.scheduler, "set_begin_index"):  # multistep schedulers need it
                self.scheduler.set_begin_index(controls.steps - start)
            noise = torch.randn(latents0.shape, generator=generator, device="cpu").to(device, dtype)
            latents = self.scheduler.add_noise(latents0, noise, timesteps[:1].repeat(b))
            kwargs = {}
            if ip_masks is not None:
                kwargs["cross_attention_kwargs"] = {"ip_adapter_masks": [ip_masks.to(device, dtype)]}
            guided = controls.guidance_scale > 1.0
            for t in timesteps:
                model_in = self.scheduler.scale_model_input(latents, t)
                pred = self.unet(model_in, t, encoder_hidden_states=text,
                                 added_cond_kwargs={"image_embeds": [embeds]},
                                 down_intrablock_additional_residuals=list(features),
                                 **kwargs).sample
                if guided:
                    plain = self.unet(model_in, t, encoder_hidden_states=text,
                                      added_cond_kwargs={"image_embeds": [torch.zeros_like(embeds)]},
                                      down_intrablock_additional_residuals=list(features),
                                      **kwargs).sample
                    pred = plain + controls.guidance_scale * (pred - plain)
                latents = self.scheduler.step(pred, t, latents).prev_sample
            out = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        return out.clamp(-1, 1).float()
