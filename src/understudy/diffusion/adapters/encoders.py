"""Pluggable image encoders whose embedding feeds the IP-Adapter.

The paper uses FaRL (a CLIP ViT-B/16 trained on LAION-Face). Any CLIP-style vision tower
works here; two ways to give one:

* a Hugging Face ``CLIPVisionModelWithProjection`` (hub id online, or a local folder holding
  ``config.json`` + weights, optionally ``preprocessor_config.json``), e.g.
  ``openai/clip-vit-base-patch16`` or ``h94/IP-Adapter`` with ``subfolder=models/image_encoder``;
* ``open_clip:ARCH:CHECKPOINT``: an open_clip architecture plus a checkpoint file in the
  OpenAI CLIP layout (a plain state dict or ``{"state_dict": ...}``), which is how FaRL ships
  (``open_clip:ViT-B-16:/path/FaRL-Base-Patch16-LAIONFace20M-ep64.pth``).

Both are frozen and return the raw projected embedding (not L2-normalised): IP-Adapter
projections are trained on raw CLIP ``image_embeds``, and normalising would change their scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from understudy.errors import UsageError

# OpenAI CLIP's normalisation; FaRL and most CLIP re-trainings keep it.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
OPEN_CLIP_PREFIX = "open_clip:"


class ImageEncoder(Protocol):
    """``encoder(crops) -> (N, embed_dim) float32 torch tensor`` for ``(h, w, 3) uint8`` crops."""

    embed_dim: int

    def __call__(self, crops: Sequence[np.ndarray]) -> Any: ...

    def to(self, device: Any, dtype: Any = None) -> "ImageEncoder": ...


@dataclass
class Preprocess:
    """Resize to a square of ``size`` (bicubic, as CLIP's processors do), scale, normalise."""

    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def __call__(self, crops: Sequence[np.ndarray]):
        import cv2
        import torch

        if len(crops) == 0:
            return torch.zeros((0, 3, self.size, self.size))
        batch = []
        for crop in crops:
            if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
                raise ValueError(f"encoder input must be (h, w, 3) uint8, got {crop.shape} {crop.dtype}")
            resized = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_CUBIC)
            batch.append(resized)
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


class ClipVisionEncoder:
    """A transformers ``CLIPVisionModelWithProjection``; its ``image_embeds`` are the embedding."""

    def __init__(self, model: Any, preprocess: Preprocess | None = None):
        self.model = model.eval().requires_grad_(False)
        self.preprocess = preprocess or Preprocess(int(model.config.image_size))
        self.embed_dim = int(model.config.projection_dim)

    def to(self, device: Any, dtype: Any = None) -> "ClipVisionEncoder":
        self.model.to(device=device, dtype=dtype)
        return self

    def __call__(self, crops: Sequence[np.ndarray]):
        import torch

        p = next(self.model.parameters())
        if len(crops) == 0:
            return torch.zeros((0, self.embed_dim), device=p.device, dtype=p.dtype)
        pixels = self.preprocess(crops).to(p.device, p.dtype)
        with torch.no_grad():
            return self.model(pixel_values=pixels).image_embeds


class OpenClipEncoder:
    """The visual tower of an open_clip model (FaRL and other OpenAI-layout checkpoints)."""

    def __init__(self, visual: Any, embed_dim: int, preprocess: Preprocess):
        self.visual = visual.eval().requires_grad_(False)
        self.embed_dim = embed_dim
        self.preprocess = preprocess

    def to(self, device: Any, dtype: Any = None) -> "OpenClipEncoder":
        self.visual.to(device=device, dtype=dtype)
        return self

    def __call__(self, crops: Sequence[np.ndarray]):
        import torch

        p = next(self.visual.parameters())
        if len(crops) == 0:
            return torch.zeros((0, self.embed_dim), device=p.device, dtype=p.dtype)
        with torch.no_grad():
            return self.visual(self.preprocess(crops).to(p.device, p.dtype))


def load_image_encoder(source: str, local_files_only: bool = False,
                       subfolder: str | None = None) -> ImageEncoder:
    """An encoder from a hub id, a local folder, or ``open_clip:ARCH:CHECKPOINT``."""
    if source.startswith(OPEN_CLIP_PREFIX):
        return _load_open_clip(source)
    try:
        from transformers import CLIPVisionModelWithProjection
    except ImportError as exc:
        from understudy.errors import MissingDependency

        raise MissingDependency("transformers (for the image encoder)",
                                "pip install 'understudy[diffusion]'") from exc
    folder = Path(source).expanduser()
    local = folder.is_dir()
    kwargs: dict[str, Any] = {"local_files_only": local_files_only or local}
    if subfolder:
        kwargs["subfolder"] = subfolder
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(folder) if local else source,
                                                              **kwargs)
    except (OSError, ValueError) as exc:
        raise UsageError(f"image encoder {source!r} cannot be loaded as a CLIP vision model "
                         f"(hub id or folder with config.json + weights): "
                         f"{str(exc).splitlines()[0][:200]}") from exc
    preprocess = Preprocess(int(model.config.image_size))
    config = (folder / (subfolder or "") / "preprocessor_config.json") if local else None
    if config is not None and config.is_file():
        data = json.loads(config.read_text())
        preprocess = Preprocess(int(model.config.image_size),
                                tuple(data.get("image_mean", CLIP_MEAN)),
                                tuple(data.get("image_std", CLIP_STD)))
    return ClipVisionEncoder(model, preprocess)


def _load_open_clip(source: str) -> OpenClipEncoder:
    spec = source[len(OPEN_CLIP_PREFIX):]
    arch, sep, checkpoint = spec.partition(":")
    if not sep or not arch or not checkpoint:
        raise UsageError(f"image encoder {source!r} must read open_clip:ARCH:CHECKPOINT, e.g. "
                         f"open_clip:ViT-B-16:/models/FaRL-Base-Patch16-LAIONFace20M-ep64.pth")
    try:
        import open_clip
        import torch
    except ImportError as exc:
        from understudy.errors import MissingDependency

        raise MissingDependency("open-clip-torch (for open_clip image encoders)",
                                "pip install open-clip-torch") from exc
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise UsageError(f"image encoder checkpoint {str(path)!r} does not exist")
    if arch not in open_clip.list_models():
        raise UsageError(f"open_clip architecture {arch!r} is not known; e.g. ViT-B-16, ViT-L-14")
    model = open_clip.create_model(arch, pretrained=None)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    if not visual:
        raise UsageError(f"checkpoint {str(path)!r} has no 'visual.*' weights (OpenAI CLIP layout)")
    missing, _ = model.visual.load_state_dict(visual, strict=False)
    if missing:
        raise UsageError(f"checkpoint {str(path)!r} does not fit open_clip {arch!r}: "
                         f"{len(missing)} visual weights missing, e.g. {missing[0]}")
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    embed_dim = int(model.visual.output_dim)
    return OpenClipEncoder(model.visual, embed_dim, Preprocess(size))
