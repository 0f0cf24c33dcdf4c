"""The options every diffusion-backed method shares: which weights, how many steps, where
they run. Each method's options dataclass inherits this block, so the names stay flat
(``--model``, ``--option device=cuda``) for the CLI, the Python API and presets alike, and a
method that loads a second pipeline for a stage hands the block on with ``diffusion()``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class DiffusionOptions:
    model: str | None = None  # SD weights: a hub id (online) or a local diffusers folder
    steps: int = 30  # denoising steps of the whole schedule
    device: str = "auto"  # "auto": CUDA, then Apple's MPS, then the CPU
    dtype: str = "auto"  # "auto": float16 on CUDA, float32 elsewhere
    offload: bool = False  # accelerate's model CPU offload: slower, fits a small GPU (CUDA only)
    offline: bool = False  # hub ids from the local cache only

    def diffusion(self) -> dict[str, Any]:
        """The shared fields alone, for the options of a stage that loads its own pipeline."""
        return {f.name: getattr(self, f.name) for f in fields(DiffusionOptions)}
