"""Train CAMOUFLaGE's identity-function (IDF) ControlNet.

    understudy train idf --model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --data photos/ --output idf/ --steps 20000 --batch-size 4

The ControlNet starts as a copy of the UNet's encoder (diffusers' ``from_unet``, zero
convolutions at zero, so step 0 changes nothing) and reads the image's own VAE latent
(4 channels at latent size: a one-stage conditioning embedding, no downsampling). The UNet,
VAE and text encoder stay frozen; the loss is SD's noise-prediction MSE with the empty
prompt, so the only way to lower it is to reproduce the image from the latent it is given:
the identity function. At inference (``negative.IdentityControl``) that prediction is the
negative branch that a_s pushes away from.

Resumable: every ``checkpoint_every`` steps ``OUTPUT/checkpoints/step-NNNNNNN/`` holds the
ControlNet, the optimizer and ``state.json`` (step, losses); a new run with the same
``--output`` continues from the latest one (same batches as an uninterrupted run, because
batch ``k`` is drawn from a generator seeded by ``(seed, k)``). The final ControlNet is
written to ``OUTPUT/`` itself, loadable as ``negative_controlnet=OUTPUT``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from understudy.errors import UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
IDF_CONDITIONING_CHANNELS = (16,)  # one stage: the latent is already at latent size
VALIDATION_TIMESTEPS = (100, 300, 500, 700, 900)


@dataclass
class IDFTrainOptions:
    model: str  # the SD base the IDF ControlNet will be used with
    data: str  # a folder of images (searched recursively)
    output: str
    steps: int = 10000
    batch_size: int = 4
    learning_rate: float = 1e-5
    resolution: int = 512
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    offline: bool = False

    def __post_init__(self) -> None:
        checks = [("steps", self.steps >= 1, ">= 1"), ("batch_size", self.batch_size >= 1, ">= 1"),
                  ("learning_rate", 0 < self.learning_rate < 1, "in (0, 1)"),
                  ("resolution", 64 <= self.resolution <= 2048 and self.resolution % 8 == 0,
                   "a multiple of 8 in [64, 2048]"),
                  ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
                  ("keep_checkpoints", self.keep_checkpoints >= 1, ">= 1"),
                  ("log_every", self.log_every >= 1, ">= 1")]
        for name, ok, allowed in checks:
            if not ok:
                raise UsageError(f"train idf --{name.replace('_', '-')} "
                                 f"{getattr(self, name)!r} is not allowed; use {allowed}")


def find_images(folder: str) -> list[Path]:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UsageError(f"train idf --data {folder!r} is not a folder of images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"train idf --data {folder!r} holds no images "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_square(path: Path, size: int) -> np.ndarray:
    """The image's centre square at ``size`` px, ``(size, size, 3) uint8``."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.fit(img.convert("RGB"), (size, size),
                                           Image.Resampling.BICUBIC))
    except OSError as exc:
        raise UsageError(f"train idf: cannot read image {str(path)!r}: {exc}") from None


class IDFTrainer:
    """``IDFTrainer(options).train(on_log)``; ``validation_loss()`` for a fixed-noise check."""

    def __init__(self, options: IDFTrainOptions, pipe: Any = None):
        from understudy.diffusion.loading import import_diffusers, load_pipeline, resolve_device

        self.options = options
        self.torch = __import__("torch")
        diffusers = import_diffusers()
        self.images = find_images(options.data)
        self.device = resolve_device(options.device)
        # Frozen parts in float32 too: gradients flow through the UNet into the ControlNet,
        # and half-precision backward through SD's UNet underflows without loss scaling.
        self.pipe = pipe if pipe is not None else load_pipeline(
            options.model, "sd", dtype="float32", device=self.device, offline=options.offline)
        for part in (self.pipe.unet, self.pipe.vae, self.pipe.text_encoder):
            part.requires_grad_(False)
            part.eval()
        self.noise_scheduler = diffusers.DDPMScheduler.from_config(self.pipe.scheduler.config)
        self.output = Path(options.output).expanduser()
        self.step = 0
        self.losses: list[float] = []
        latest = self.latest_checkpoint() if options.resume else None
        if latest is not None:
            self.controlnet = diffusers.ControlNetModel.from_pretrained(
                latest / "controlnet", local_files_only=True).to(self.device)
        else:
            self.controlnet = diffusers.ControlNetModel.from_unet(
                self.pipe.unet, conditioning_channels=4,
                conditioning_embedding_out_channels=IDF_CONDITIONING_CHANNELS).to(self.device)
        self.controlnet.train()
        self.optimizer = self.torch.optim.AdamW(self.controlnet.parameters(),
                                                lr=options.learning_rate)
        if latest is not None:
            self.optimizer.load_state_dict(self.torch.load(latest / "optimizer.pt",
                                                           map_location=self.device))
            state = json.loads((latest / "state.json").read_text())
            self.step, self.losses = int(state["step"]), list(state["losses"])
        with self.torch.no_grad():
            ids = self.pipe.tokenizer("", padding="max_length", truncation=True,
                                      max_length=self.pipe.tokenizer.model_max_length,
                                      return_tensors="pt").input_ids.to(self.device)
            self.empty = self.pipe.text_encoder(ids)[0]

    def latest_checkpoint(self) -> Path | None:
        folder = self.output / "checkpoints"
        done = sorted(p for p in folder.glob("step-*") if (p / "state.json").is_file()
                      and not p.name.endswith(".partial")) if folder.is_dir() else []
        return done[-1] if done else None

    def latents(self, paths: list[Path], generator: Any) -> Any:
        """The frozen VAE's latents of ``paths`` (sampled, as SD training does)."""
        torch = self.torch
        batch = np.stack([load_square(p, self.options.resolution) for p in paths])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().to(self.device) / 127.5 - 1
        with torch.no_grad():
            dist = self.pipe.vae.encode(x).latent_dist
            noise = torch.randn(dist.mean.shape, generator=generator).to(self.device)
            z = dist.mean + dist.std * noise
        return z * self.pipe.vae.config.scaling_factor

    def loss(self, z0: Any, noise: Any, timesteps: Any) -> Any:
        torch = self.torch
        zt = self.noise_scheduler.add_noise(z0, noise, timesteps)
        text = self.empty.expand(z0.shape[0], -1, -1)
        down, mid = self.controlnet(zt, timesteps, encoder_hidden_states=text,
                                    controlnet_cond=z0, return_dict=False)
        eps = self.pipe.unet(zt, timesteps, encoder_hidden_states=text,
                             down_block_additional_residuals=down,
                             mid_block_additional_residual=mid, return_dict=False)[0]
        return torch.nn.functional.mse_loss(eps.float(), noise.float())

    def validation_loss(self, count: int = 4) -> float:
        """The loss on the first ``count`` images at fixed noise and timesteps: comparable
        across steps (the training loss jumps with the random timestep of each batch)."""
        torch = self.torch
        gen = torch.Generator().manual_seed(12345)
        paths = self.images[:count]
        z0 = self.latents(paths, gen)
        total = 0.0
        with torch.no_grad():
            for t in VALIDATION_TIMESTEPS:
                noise = torch.randn(z0.shape, generator=gen).to(self.device)
                ts = torch.full((z0.shape[0],), t, dtype=torch.long, device=self.device)
                total += float(self.loss(z0, noise, ts))
        return total / len(VALIDATION_TIMESTEPS)

    def train(self, on_log: Callable[[dict[str, Any]], None] | None = None) -> Path:
        """Train up to ``options.steps`` (from the resumed step); return the output folder."""
        torch = self.torch
        o = self.options
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "train_options.json").write_text(json.dumps(asdict(o), indent=2))
        while self.step < o.steps:
            rng = np.random.default_rng([o.seed, self.step])
            gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
            paths = [self.images[i] for i in rng.integers(len(self.images), size=o.batch_size)]
            z0 = self.latents(paths, gen)
            noise = torch.randn(z0.shape, generator=gen).to(self.device)
            timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps,
                                      (z0.shape[0],), generator=gen).to(self.device)
            loss = self.loss(z0, noise, timesteps)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.controlnet.parameters(), 1.0)
            self.optimizer.step()
            self.step += 1
            self.losses.append(round(float(loss.detach()), 6))
            if on_log is not None and (self.step % o.log_every == 0 or self.step == o.steps):
                recent = self.losses[-o.log_every:]
                on_log({"step": self.step, "steps": o.steps, "loss": sum(recent) / len(recent)})
            if self.step % o.checkpoint_every == 0 or self.step == o.steps:
                self.save_checkpoint()
        self.controlnet.save_pretrained(self.output)
        return self.output

    def save_checkpoint(self) -> Path:
        folder = self.output / "checkpoints" / f"step-{self.step:07d}"
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        self.controlnet.save_pretrained(tmp / "controlnet")
        self.torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": self.step, "losses": self.losses}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # a run killed mid-save leaves only a .partial, never a bad step
        done = sorted(p for p in folder.parent.glob("step-*") if not p.name.endswith(".partial"))
        for old in done[:-self.options.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return folder
