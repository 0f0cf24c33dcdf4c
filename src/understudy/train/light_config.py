"""Training configuration for CAMOUFLaGE-Light, with YAML presets.

The same dataclass feeds the CLI (``understudy train camouflage-light``), the Python API and
the presets under ``understudy/presets/camouflage-light-*.yaml``. A preset fills defaults;
explicit options win over it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from understudy.errors import UsageError

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
PRESET_PREFIX = "camouflage-light-"
TIMESTEP_SAMPLING = ("uniform", "cubic")
MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass
class LightTrainConfig:
    """Everything one training run needs; validated on construction."""

    model: str = ""  # SD 1.x base: hub id or local diffusers folder
    image_encoder: str = ""  # CLIP-style vision model: hub id, folder or open_clip:ARCH:FILE
    image_encoder_subfolder: str | None = None
    data: str = ""  # folder of training images (see understudy.train.light_data)
    output: str = ""  # where adapters and checkpoints go
    attributes_file: str | None = None  # CelebA list_attr format; default data/list_attr_celeba.txt
    landmarks_file: str | None = None  # CelebA landmarks format; default: detect with CenterFace
    captions_file: str | None = None  # metadata.jsonl ({"file_name", "text"}); default: from attributes
    resolution: int = 512
    batch_size: int = 4
    gradient_accumulation: int = 1
    steps: int = 20000
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    caption_dropout: float = 0.5  # captions are a training-time aid: inference has none
    embedding_dropout: float = 0.05  # teaches the unconditional branch for guidance_scale > 1
    # Share of samples whose attributes are thinned to unknown (0): inference knows only what
    # labels or the measured models give (Male, Young, Smiling: 3 of 40 keys), so the
    # adapters must learn unknown as a state. A thinned sample keeps each attribute with a
    # probability drawn uniformly from [0, 1] (see understudy.train.light.drop_attributes).
    attribute_dropout: float = 0.5
    timestep_sampling: str = "cubic"  # T2I-Adapter's choice: more high-noise steps
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    mixed_precision: str = "no"
    offline: bool = False
    resume: bool = True  # False: start over even if output holds checkpoints

    def __post_init__(self) -> None:
        positive = ("resolution", "batch_size", "gradient_accumulation", "steps",
                    "checkpoint_every", "keep_checkpoints", "log_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"camouflage-light {name} must be an integer >= 1, got {value!r}")
        if self.resolution % 64:
            raise UsageError(f"camouflage-light resolution must be a multiple of 64 (SD's VAE "
                             f"downsamples by 8 and the adapter by 8 more), got {self.resolution}")
        if not self.learning_rate > 0:
            raise UsageError(f"camouflage-light learning_rate must be > 0, got {self.learning_rate}")
        for name in ("caption_dropout", "embedding_dropout", "attribute_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"camouflage-light {name} must be in [0, 1], got {value}")
        if self.timestep_sampling not in TIMESTEP_SAMPLING:
            raise UsageError(f"camouflage-light timestep_sampling {self.timestep_sampling!r} is "
                             f"not known; allowed: {', '.join(TIMESTEP_SAMPLING)}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise UsageError(f"camouflage-light mixed_precision {self.mixed_precision!r} is not "
                             f"known; allowed: {', '.join(MIXED_PRECISION)}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise UsageError("camouflage-light weight_decay must be >= 0 and max_grad_norm > 0")

    def require_paths(self) -> None:
        """The options a run cannot start without (presets leave them empty)."""
        for name, hint in (("model", "an SD 1.x hub id or folder"),
                           ("image_encoder", "a CLIP vision model hub id/folder or open_clip:ARCH:FILE"),
                           ("data", "a folder of face images"), ("output", "a folder to write to")):
            if not getattr(self, name):
                raise UsageError(f"camouflage-light training needs --{name.replace('_', '-')} ({hint})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def preset_names() -> list[str]:
    return sorted(p.stem[len(PRESET_PREFIX):] for p in PRESET_DIR.glob(f"{PRESET_PREFIX}*.yaml"))


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise UsageError(f"config {str(path)!r} must be a mapping of option: value")
    return data


def load_config(preset: str | None = None, config_file: str | None = None,
                **overrides: Any) -> LightTrainConfig:
    """A config from a preset name (or a YAML file), then ``overrides`` (None values skipped)."""
    values: dict[str, Any] = {}
    if preset:
        path = PRESET_DIR / f"{PRESET_PREFIX}{preset}.yaml"
        if not path.is_file():
            raise UsageError(f"camouflage-light preset {preset!r} is not known; available: "
                             f"{', '.join(preset_names()) or 'none'}")
        values.update(read_yaml(path))
    if config_file:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise UsageError(f"config file {config_file!r} does not exist")
        values.update(read_yaml(path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    allowed = {f.name for f in fields(LightTrainConfig)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise UsageError(f"camouflage-light has no option {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    return LightTrainConfig(**values)
