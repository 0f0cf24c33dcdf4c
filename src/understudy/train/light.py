"""Train CAMOUFLaGE-Light's two adapters jointly; SD and the image encoder stay frozen.

``understudy train camouflage-light --model SD --image-encoder ENC --data DIR --output OUT``

The objective is SD's own: predict the noise added to the image's latent, here with the
face embedding (IP-Adapter) and the attribute/keypoint map (T2I-Adapter) as extra inputs
and the caption as text (dropped with ``caption_dropout``, because inference has no caption).
Attributes are thinned to unknown with ``attribute_dropout``: at inference most of the 40
are unknown (the measured models give 3), a state the adapters must have seen.
Only the adapters' parameters receive gradients.

Checkpoints: ``OUT/checkpoints/step-NNNNNN/`` hold the adapters (loadable as they are) and
``trainer.pt`` (optimizer, step, random states); a run started again with the same output
resumes from the newest one. The finished adapters are written to ``OUT`` itself.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from understudy.errors import UsageError
from understudy.diffusion.adapters.networks import LightAdapters, adapter_features
from understudy.train.light_config import LightTrainConfig
from understudy.train.light_data import LightDataset, Sample

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer.pt"


@dataclass
class StepReport:
    """What a progress callback sees after every optimizer step."""

    step: int
    total: int
    loss: float
    seconds: float


@dataclass
class Frozen:
    """The frozen parts a trainer needs (from a loaded pipeline or built in tests)."""

    vae: Any
    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any  # its training config (betas, prediction_type) defines the noise
    image_encoder: Any


class LightTrainer:
    """One training run; ``run()`` trains to ``config.steps`` and returns the adapters."""

    def __init__(self, config: LightTrainConfig, frozen: Frozen, dataset: LightDataset,
                 progress: Callable[[StepReport], None] | None = None):
        import torch

        self.config = config
        self.frozen = frozen
        self.dataset = dataset
        self.progress = progress
        self.output = Path(config.output).expanduser()
        self.device = next(frozen.unet.parameters()).device
        for module in (frozen.vae, frozen.unet, frozen.text_encoder):
            module.requires_grad_(False).eval()
        resume = latest_checkpoint(self.output) if config.resume else None
        if resume is not None:
            self.adapters = LightAdapters.load(resume, frozen.unet)
        else:
            self.adapters = LightAdapters.fresh(frozen.unet, frozen.image_encoder.embed_dim,
                                                image_encoder=config.image_encoder,
                                                base_model=config.model)
        params = self.adapters.parameters()
        for p in params:
            p.requires_grad_(True)
        # The adapters train in float32 whatever the frozen parts use.
        self.adapters.t2i.float()
        self.adapters.t2i.train()
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.step = 0
        self.generator = torch.Generator().manual_seed(config.seed)
        self.order_rng = random.Random(config.seed)
        if resume is not None:
            self._load_trainer_state(resume)

    # -- data -------------------------------------------------------------------------------

    def batches(self):
        """Endless shuffled batches; the shuffle state is part of a checkpoint."""
        while True:
            order = list(range(len(self.dataset)))
            self.order_rng.shuffle(order)
            size = self.config.batch_size
            for i in range(0, len(order) - size + 1 if len(order) >= size else 1, size):
                yield [self.dataset[j] for j in order[i:i + size]]

    def prepare(self, samples: list[Sample], drop: bool = True) -> dict[str, Any]:
        """Tensors for a batch: latents, map, embeddings, text states (with dropout)."""
        import torch

        f = self.frozen
        dtype = next(f.unet.parameters()).dtype
        pixels = torch.from_numpy(np.stack([s.image for s in samples])).to(self.device, dtype)
        cond = torch.from_numpy(np.stack([s.condition for s in samples])).to(self.device, dtype)
        captions = [s.caption for s in samples]
        with torch.no_grad():
            latents = f.vae.encode(pixels).latent_dist.sample(self.generator) \
                * f.vae.config.scaling_factor
            embeds = f.image_encoder([s.crop for s in samples]).to(self.device, dtype)
            if drop:
                keep_caption = torch.rand(len(samples), generator=self.generator) \
                    >= self.config.caption_dropout
                captions = [c if k else "" for c, k in zip(captions, keep_caption.tolist())]
                keep_embed = (torch.rand(len(samples), generator=self.generator)
                              >= self.config.embedding_dropout).to(self.device, dtype)
                embeds = embeds * keep_embed[:, None]
                cond = drop_attributes(cond, self.config.attribute_dropout, self.generator)
            tokens = f.tokenizer(captions, padding="max_length", truncation=True,
                                 max_length=f.tokenizer.model_max_length, return_tensors="pt")
            text = f.text_encoder(tokens.input_ids.to(self.device))[0].to(dtype)
        return {"latents": latents, "cond": cond, "embeds": embeds[:, None], "text": text}

    # -- objective --------------------------------------------------------------------------

    def sample_timesteps(self, n: int) -> Any:
        import torch

        total = self.frozen.scheduler.config.num_train_timesteps
        u = torch.rand(n, generator=self.generator)
        if self.config.timestep_sampling == "cubic":
            u = 1 - u ** 3  # T2I-Adapter: structure is decided at high noise, train there more
        return (u * (total - 1)).round().long().clamp(0, total - 1)

    def loss(self, batch: dict[str, Any], timesteps: Any, noise: Any) -> Any:
        import torch.nn.functional as F

        f = self.frozen
        latents = batch["latents"]
        timesteps = timesteps.to(self.device)
        noisy = f.scheduler.add_noise(latents, noise, timesteps)
        features = adapter_features(self.adapters.t2i, f.unet, batch["cond"],
                                    tuple(latents.shape[-2:]))
        dtype = next(f.unet.parameters()).dtype
        features = [x.to(dtype) for x in features]
        pred = f.unet(noisy, timesteps, encoder_hidden_states=batch["text"],
                      added_cond_kwargs={"image_embeds": [batch["embeds"]]},
                      down_intrablock_additional_residuals=features).sample
        kind = f.scheduler.config.get("prediction_type", "epsilon")
        if kind == "epsilon":
            target = noise
        elif kind == "v_prediction":
            target = f.scheduler.get_velocity(latents, noise, timesteps)
        else:
            raise UsageError(f"base model predicts {kind!r}; camouflage-light trains epsilon or "
                             f"v_prediction models")
        return F.mse_loss(pred.float(), target.float())

    def validation_loss(self, samples: list[Sample], seed: int = 1234) -> float:
        """The loss on fixed samples, noise and timesteps: comparable across steps."""
        import torch

        saved = self.generator.get_state()
        self.generator.manual_seed(seed)
        batch = self.prepare(samples, drop=False)
        total = self.frozen.scheduler.config.num_train_timesteps
        timesteps = torch.linspace(total * 0.1, total * 0.9, len(samples)).long()
        noise = torch.randn(batch["latents"].shape, generator=self.generator).to(batch["latents"])
        with torch.no_grad():
            value = float(self.loss(batch, timesteps, noise))
        self.generator.set_state(saved)
        return value

    # -- loop -------------------------------------------------------------------------------

    def run(self) -> LightAdapters:
        import torch

        cfg = self.config
        params = self.adapters.parameters()
        autocast = _autocast(cfg.mixed_precision, self.device)
        # A resumed run goes on with fresh shuffles from the saved shuffle state.
        batches = self.batches()
        start = time.perf_counter()
        while self.step < cfg.steps:
            self.optimizer.zero_grad(set_to_none=True)
            total_loss = 0.0
            for _ in range(cfg.gradient_accumulation):
                batch = self.prepare(next(batches))
                n = batch["latents"].shape[0]
                timesteps = self.sample_timesteps(n)
                noise = torch.randn(batch["latents"].shape, generator=self.generator) \
                    .to(batch["latents"])
                with autocast:
                    loss = self.loss(batch, timesteps, noise) / cfg.gradient_accumulation
                loss.backward()
                total_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            self.optimizer.step()
            self.step += 1
            if self.progress is not None:
                self.progress(StepReport(self.step, cfg.steps, total_loss,
                                         time.perf_counter() - start))
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
        self.adapters.meta.steps_trained = self.step
        self.adapters.save(self.output)
        (self.output / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        return self.adapters

    # -- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        import torch

        folder = self.output / CHECKPOINTS / f"step-{self.step:06d}"
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.adapters.meta.steps_trained = self.step
        self.adapters.save(tmp)
        torch.save({"step": self.step, "optimizer": self.optimizer.state_dict(),
                    "generator": self.generator.get_state(),
                    "order_rng": self.order_rng.getstate(),
                    "config": self.config.to_dict()}, tmp / TRAINER_STATE)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # a checkpoint appears whole or not at all
        for old in checkpoints(self.output)[:-self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def _load_trainer_state(self, folder: Path) -> None:
        import torch

        state = torch.load(folder / TRAINER_STATE, map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.generator.set_state(state["generator"])
        self.order_rng.setstate(state["order_rng"])


def drop_attributes(cond: Any, rate: float, generator: Any) -> Any:
    """``cond`` (B, CHANNELS, H, W) with some attribute channels set to unknown (0).

    A share ``rate`` of the samples is thinned; a thinned sample keeps each of its 40
    attributes with its own probability drawn from U(0, 1), so every degree of knowledge,
    from all unknown to all known, is seen in training. Keypoints and occupancy stay: a
    person whose attributes are unknown is still a person here. Draws come from the trainer's
    seeded generator (part of a checkpoint).
    """
    import torch

    from understudy.diffusion.adapters.celeba import NUM_ATTRIBUTES

    b = cond.shape[0]
    thinned = torch.rand(b, generator=generator) < rate
    keep_rate = torch.rand(b, 1, generator=generator)
    keep = torch.rand(b, NUM_ATTRIBUTES, generator=generator) < keep_rate
    keep = keep | ~thinned[:, None]
    out = cond.clone()
    out[:, :NUM_ATTRIBUTES] *= keep.to(cond.device, cond.dtype)[:, :, None, None]
    return out


def checkpoints(output: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(output) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")
                  and (p / TRAINER_STATE).is_file())


def latest_checkpoint(output: Path) -> Path | None:
    found = checkpoints(output)
    return found[-1] if found else None


def _autocast(mode: str, device: Any) -> Any:
    import contextlib

    import torch

    if mode == "no":
        return contextlib.nullcontext()
    dtype = torch.float16 if mode == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def train(config: LightTrainConfig, progress: Callable[[StepReport], None] | None = None,
          log: Callable[[str], None] = print) -> LightAdapters:
    """Load everything ``config`` names and train (the CLI's entry point)."""
    from understudy.diffusion.loading import load_pipeline, resolve_device
    from understudy.diffusion.adapters.encoders import load_image_encoder

    config.require_paths()
    device = resolve_device(config.device)
    # Frozen parts in float32: the trained adapters sit inside the UNet's attention and must
    # see float32 inputs; mixed_precision autocasts the compute instead.
    pipe = load_pipeline(config.model, "sd", dtype="float32", device=device,
                         offline=config.offline)
    encoder = load_image_encoder(config.image_encoder, local_files_only=config.offline,
                                 subfolder=config.image_encoder_subfolder).to(device)
    detect = None
    if config.landmarks_file is None:
        try:
            from understudy.perception.faces import CenterFaceDetector

            detect = CenterFaceDetector()
        except UsageError:
            detect = None
    output = Path(config.output).expanduser()
    dataset = LightDataset(config.data, config.resolution, config.attributes_file,
                           config.landmarks_file, config.captions_file, detect=detect,
                           cache_file=output / "faces.json", progress=log)
    if dataset.skipped:
        log(f"skipped {len(dataset.skipped)} images without a face "
            f"(e.g. {', '.join(dataset.skipped[:3])})")
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    frozen = Frozen(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer, scheduler, encoder)
    trainer = LightTrainer(config, frozen, dataset, progress)
    if trainer.step:
        log(f"resuming from step {trainer.step} ({latest_checkpoint(output)})")
    log(f"training on {len(dataset)} images, {config.steps} steps, device {device}")
    return trainer.run()
