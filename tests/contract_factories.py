"""Builders of methods that need weights, with tiny random models, for the contract tests.

Every registered method must pass tests/core/test_method_contract.py; a method that needs
weights registers here how to build it from tiny components written to disk and loaded back
through the same loading code users hit (the way diffusers tests its pipelines).
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable


@lru_cache(maxsize=1)
def tiny_models() -> Path:
    """Tiny SD, inpainting, ControlNet and IDF folders, written once per test session."""
    from understudy.diffusion.tiny import KINDS, save_tiny_pipeline

    root = Path(tempfile.mkdtemp(prefix="understudy-contract-"))
    for kind in KINDS:
        save_tiny_pipeline(kind, root / kind, seed=0)
    return root


def camouflage():
    from understudy.methods.registry import load_method

    root = tiny_models()
    return load_method("camouflage", model=str(root / "sd"), controlnets=f"pose={root / 'controlnet'}",
                       negative_controlnet=str(root / "idf"), steps=3, resolution=64,
                       guidance_scale=3.0, attributes="age=30s,gender=female", device="cpu")


def masksd():
    from understudy.methods.registry import load_method

    return load_method("masksd", model=str(tiny_models() / "inpaint"), steps=3, resolution=64,
                       attributes="age=30s,gender=male", device="cpu")


def camouflage_light():
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from understudy.diffusion.tiny import tiny_unet
    from understudy.diffusion.adapters.networks import LightAdapters
    from understudy.diffusion.adapters.encoders import load_image_encoder
    from understudy.methods.registry import load_method

    root = tiny_models()
    encoder = root / "encoder"
    if not encoder.exists():
        torch.manual_seed(0)
        config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                                  num_hidden_layers=2, image_size=32, patch_size=8, projection_dim=16)
        CLIPVisionModelWithProjection(config).save_pretrained(encoder)
        adapters = LightAdapters.fresh(tiny_unet(), load_image_encoder(str(encoder)).embed_dim,
                                       image_encoder=str(encoder), base_model=str(root / "sd"))
        adapters.save(root / "adapters")
    return load_method("camouflage-light", model=str(root / "sd"), adapters=str(root / "adapters"),
                       resolution=64, steps=3, device="cpu", strength=0.9)


FACTORIES: dict[str, Callable[[], object]] = {
    "camouflage": camouflage,
    "masksd": masksd,
    "camouflage-light": camouflage_light,
}
