"""Load Stable Diffusion pipelines and ControlNets from a hub id or a local folder.

No package ships SD, inpainting or ControlNet weights, so every diffusion method takes a
``model`` that is either a local folder in the diffusers layout (what ``save_pretrained``
writes: ``model_index.json`` plus ``unet/ vae/ text_encoder/ tokenizer/ scheduler/``) or a
Hugging Face hub id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5`` (downloaded by
diffusers, or read from the hub cache with ``offline=True``). A local folder is always
loaded with ``local_files_only=True``: nothing is fetched behind the user's back.

Precision follows the device: float16 on CUDA (half the memory, the way SD is run),
float32 on the CPU (float16 kernels are missing or slow there).

``describe_model`` inspects a source without loading weights, for ``understudy doctor``.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from understudy.errors import MissingDependency, UsageError

# kind -> diffusers pipeline class. "sd" is text-to-image; the img2img and ControlNet kinds
# share the same weights (a plain SD folder), "inpaint*" need a 9-channel UNet.
PIPELINE_CLASSES: dict[str, str] = {
    "sd": "StableDiffusionPipeline",
    "img2img": "StableDiffusionImg2ImgPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
    "controlnet": "StableDiffusionControlNetPipeline",
    "controlnet-img2img": "StableDiffusionControlNetImg2ImgPipeline",
    "controlnet-inpaint": "StableDiffusionControlNetInpaintPipeline",
}
# SD's inpainting UNet takes the noisy latent (4), the mask (1) and the masked image's
# latent (4) stacked: 9 input channels. A text-to-image UNet takes 4.
INPAINT_UNET_CHANNELS = 9
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
PIPELINE_LAYOUT = ("model_index.json plus unet/, vae/, text_encoder/, tokenizer/ and scheduler/ "
                   "(the layout save_pretrained writes)")
CONTROLNET_LAYOUT = "config.json plus diffusion_pytorch_model.safetensors"
INSTALL_HINT = "pip install 'understudy[diffusion]' (or bash scripts/install.sh)"


@dataclass(frozen=True)
class Source:
    """Where a model comes from: a local folder or a hub id (``local`` False)."""

    name: str
    local: bool

    @property
    def path(self) -> Path:
        return Path(self.name).expanduser()


def resolve_source(name: str, what: str = "model") -> Source:
    """A local folder when ``name`` exists on disk, a hub id when it looks like ``org/name``.

    Anything else that looks like a path (absolute, ``./``, ``~``, more than one ``/``) and
    does not exist is a usage error rather than a doomed download.
    """
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{what} must be a Hugging Face hub id (org/name) or a local folder, "
                         f"got {name!r}")
    name = name.strip()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{what} {name!r} is a file; give the folder in the diffusers layout "
                             "(single-file .safetensors/.ckpt checkpoints must first be converted "
                             "with save_pretrained)")
        return Source(name, True)
    looks_like_path = (name.startswith(("/", ".", "~")) or name.count("/") != 1
                       or os.sep != "/" and os.sep in name)
    if looks_like_path:
        raise UsageError(f"{what} folder {name!r} does not exist; give an existing folder or a "
                         "hub id such as stable-diffusion-v1-5/stable-diffusion-v1-5")
    return Source(name, False)


def resolve_device(device: str = "auto") -> str:
    """``auto`` is CUDA when torch sees a GPU, then Apple's MPS, else the CPU."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise UsageError(f"device {device!r} is not known; allowed: {', '.join(DEVICES)} or cuda:N")
    torch = import_torch()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} was asked for but torch sees no CUDA GPU; "
                         "use --device cpu (slow with real weights) or auto")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """float16 on CUDA, float32 elsewhere, unless the user names one."""
    if dtype not in DTYPES:
        raise UsageError(f"dtype {dtype!r} is not known; allowed: {', '.join(DTYPES)}")
    torch = import_torch()
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if dtype == "float16" and device == "cpu":
        raise UsageError("dtype float16 on the CPU is missing kernels or very slow; "
                         "use float32 (the auto choice) or bfloat16")
    return getattr(torch, dtype)


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency("torch (for the diffusion methods)", INSTALL_HINT) from exc
    return torch


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers warns once per image-processor class when torchvision is absent, which we
    never use (we pass pixels ourselves); keep those lines off the user's terminal."""
    try:
        # transformers sets its root logger's level when it first configures it, which
        # would undo a level set before; configure it first through its own module.
        from transformers.utils import logging as tlogging
    except ImportError:
        yield
        return
    level = tlogging.get_verbosity()
    tlogging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        tlogging.set_verbosity(level)


def import_diffusers() -> Any:
    """The diffusers module, or a MissingDependency naming the extra to install."""
    import_torch()
    try:
        with _quiet_transformers():
            import diffusers
            import transformers  # noqa: F401  (diffusers pipelines need it)
            for name in ("StableDiffusionPipeline", "ControlNetModel"):
                getattr(diffusers, name)  # resolves diffusers' lazy imports now, quietly
    except ImportError as exc:
        raise MissingDependency("diffusers/transformers (for the diffusion methods)",
                                INSTALL_HINT) from exc
    return diffusers


def _dtype_kwarg() -> str:
    """``dtype`` on diffusers that renamed it (``torch_dtype`` is deprecated there), else
    ``torch_dtype``."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def check_pipeline_folder(path: Path, kind: str) -> dict[str, Any]:
    """Read and check a local pipeline folder; return its ``model_index.json``."""
    index = path / "model_index.json"
    if not index.is_file():
        hint = (" (it looks like a ControlNet; pass it as a ControlNet, not as the model)"
                if (path / "config.json").is_file() else "")
        raise UsageError(f"model folder {str(path)!r} has no model_index.json{hint}; expected "
                         f"{PIPELINE_LAYOUT}")
    info = json.loads(index.read_text())
    for component in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        if component in info and info[component][0] is not None and not (path / component).is_dir():
            raise UsageError(f"model folder {str(path)!r} lists {component} in model_index.json but "
                             f"has no {component}/ folder; expected {PIPELINE_LAYOUT}")
    channels = unet_in_channels(path)
    if channels is not None:
        _check_inpaint_channels(str(path), kind, channels)
    return info


def unet_in_channels(path: Path) -> int | None:
    config = path / "unet" / "config.json"
    if not config.is_file():
        return None
    return int(json.loads(config.read_text()).get("in_channels", 4))


def _check_inpaint_channels(name: str, kind: str, channels: int) -> None:
    wants_inpaint = kind.endswith("inpaint")
    if wants_inpaint and channels != INPAINT_UNET_CHANNELS:
        raise UsageError(f"model {name!r} is not an inpainting model (its UNet takes {channels} "
                         f"input channels, inpainting needs {INPAINT_UNET_CHANNELS}); give an "
                         "inpainting checkpoint such as stable-diffusion-v1-5/"
                         "stable-diffusion-inpainting")
    if not wants_inpaint and channels != 4:
        raise UsageError(f"model {name!r} is an inpainting model ({channels}-channel UNet); "
                         f"the {kind!r} pipeline needs a text-to-image SD checkpoint")


def _wrap_load_error(exc: Exception, source: Source, what: str) -> UsageError:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    if source.local:
        return UsageError(f"could not load {what} from folder {source.name!r}: {first}")
    return UsageError(f"could not load {what} {source.name!r} from the Hugging Face hub "
                      f"(offline, a typo, or a gated model needing `huggingface-cli login`?): "
                      f"{first}")


def load_controlnet(name: str, dtype: str = "auto", device: str = "auto",
                    offline: bool = False) -> Any:
    """A ``ControlNetModel`` from a folder (``config.json`` + weights) or a hub id."""
    diffusers = import_diffusers()
    source = resolve_source(name, "ControlNet")
    if source.local and not (source.path / "config.json").is_file():
        hint = (" (it looks like a whole pipeline; a ControlNet folder holds one model)"
                if (source.path / "model_index.json").is_file() else "")
        raise UsageError(f"ControlNet folder {name!r} has no config.json{hint}; expected "
                         f"{CONTROLNET_LAYOUT}")
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    try:
        with _quiet_transformers():
            model = diffusers.ControlNetModel.from_pretrained(
                str(source.path) if source.local else source.name, **{_dtype_kwarg(): torch_dtype},
                local_files_only=source.local or offline)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _wrap_load_error(exc, source, "a ControlNet") from exc
    return model.to(device)


def load_pipeline(model: str, kind: str = "sd", controlnets: Any = None, dtype: str = "auto",
                  device: str = "auto", offload: bool = False, offline: bool = False) -> Any:
    """A diffusers pipeline of ``kind`` (see ``PIPELINE_CLASSES``) on ``device``.

    ``controlnets`` (ControlNet kinds only) is one ``ControlNetModel``, a list of them, or
    folder/hub names loaded with ``load_controlnet``. ``offload`` moves each sub-model to the
    GPU only while it runs (accelerate's model CPU offload): slower, fits a small GPU. The
    safety checker is left out: the methods decide what to show, and it would black out
    whole frames of a dataset.
    """
    if kind not in PIPELINE_CLASSES:
        raise UsageError(f"pipeline kind {kind!r} is not known; allowed: "
                         f"{', '.join(PIPELINE_CLASSES)}")
    is_control = kind.startswith("controlnet")
    if is_control and not controlnets:
        raise UsageError(f"a {kind!r} pipeline needs at least one ControlNet")
    if controlnets and not is_control:
        raise UsageError(f"ControlNets were given to a {kind!r} pipeline; use a controlnet kind")
    diffusers = import_diffusers()
    source = resolve_source(model, "model")
    if source.local:
        check_pipeline_folder(source.path, kind)
    device = resolve_device(device)
    if offload and not device.startswith("cuda"):
        raise UsageError(f"offload moves models between the CPU and a CUDA GPU; device is {device}")
    torch_dtype = resolve_dtype(dtype, device)
    extra: dict[str, Any] = {}
    if is_control:
        items = controlnets if isinstance(controlnets, (list, tuple)) else [controlnets]
        nets = [load_controlnet(c, dtype, device, offline) if isinstance(c, (str, os.PathLike))
                else c for c in items]
        extra["controlnet"] = nets[0] if len(nets) == 1 else nets
    cls = getattr(diffusers, PIPELINE_CLASSES[kind])
    try:
        with _quiet_transformers():
            pipe = cls.from_pretrained(
                str(source.path) if source.local else source.name, **{_dtype_kwarg(): torch_dtype},
                local_files_only=source.local or offline, safety_checker=None,
                requires_safety_checker=False, feature_extractor=None, **extra)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _wrap_load_error(exc, source, f"a {kind} pipeline") from exc
    if not source.local:
        channels = getattr(pipe.unet.config, "in_channels", 4)
        _check_inpaint_channels(source.name, kind, channels)
    if offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def convert_pipeline(pipe: Any, kind: str, controlnets: Any = None) -> Any:
    """Another pipeline kind over the same loaded weights (no copy): e.g. text-to-image
    weights reused for img2img or ControlNet img2img."""
    diffusers = import_diffusers()
    if kind not in PIPELINE_CLASSES:
        raise UsageError(f"pipeline kind {kind!r} is not known; allowed: "
                         f"{', '.join(PIPELINE_CLASSES)}")
    components = {k: v for k, v in pipe.components.items() if k != "controlnet"}
    if kind.startswith("controlnet"):
        components["controlnet"] = controlnets
    cls = getattr(diffusers, PIPELINE_CLASSES[kind])
    new = cls(**components)
    new.set_progress_bar_config(disable=True)
    return new


def describe_model(name: str) -> dict[str, Any]:
    """What a model source holds, without loading weights or going online.

    Returns ``{"name", "source": "local"|"hub-cache"|"hub"|"missing", "ok", "kind":
    "pipeline"|"controlnet"|"unknown", ...}`` with ``problem`` set when it cannot be used;
    pipelines add ``class``, ``components``, ``unet_in_channels`` and ``inpainting``,
    ControlNets add ``conditioning_channels``.
    """
    out: dict[str, Any] = {"name": name, "ok": False, "kind": "unknown"}
    try:
        source = resolve_source(name)
    except UsageError as exc:
        out.update(source="missing", problem=str(exc))
        return out
    folder: Path | None = source.path if source.local else None
    if source.local:
        out["source"] = "local"
    else:
        folder = _hub_cache_folder(source.name)
        out["source"] = "hub-cache" if folder is not None else "hub"
        if folder is None:
            out.update(ok=True, problem="not in the local hub cache; it will be downloaded on "
                                        "first use (needs internet)")
            return out
    assert folder is not None
    out["path"] = str(folder)
    if (folder / "model_index.json").is_file():
        info = json.loads((folder / "model_index.json").read_text())
        channels = unet_in_channels(folder)
        out.update(kind="pipeline", ok=True, **{"class": info.get("_class_name")},
                   components=sorted(k for k, v in info.items()
                                     if not k.startswith("_") and isinstance(v, list)
                                     and v[0] is not None),
                   unet_in_channels=channels,
                   inpainting=channels == INPAINT_UNET_CHANNELS)
        missing = [c for c in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
                   if not (folder / c).is_dir()]
        if missing:
            out.update(ok=False, problem=f"missing component folders: {', '.join(missing)}")
    elif (folder / "config.json").is_file():
        config = json.loads((folder / "config.json").read_text())
        if config.get("_class_name") == "ControlNetModel":
            out.update(kind="controlnet", ok=True,
                       conditioning_channels=config.get("conditioning_channels", 3),
                       latent_conditioned=is_latent_controlnet_config(config))
        else:
            out.update(problem=f"config.json describes {config.get('_class_name')!r}, "
                               "not a pipeline or a ControlNet")
    else:
        out["problem"] = f"neither a pipeline ({PIPELINE_LAYOUT}) nor a ControlNet folder"
    return out


def is_latent_controlnet_config(config: Any) -> bool:
    """An identity-function ControlNet reads the 4-channel VAE latent at latent resolution:
    4 conditioning channels and a one-stage conditioning embedding (no stride-2 convs)."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    return (int(get("conditioning_channels", 3)) == 4
            and len(get("conditioning_embedding_out_channels", (16, 32, 96, 256))) == 1)


def _hub_cache_folder(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub model, if it was downloaded before."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model_index.json", "config.json"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return Path(found).parent
    return None


class SharedModels:
    """Loaded models shared by the methods built with the same sources.

    ``understudy anonymize --anonymization-scale 0,1,2`` builds one method per scale; they
    must share one copy of the weights (a few GB on a GPU), not load it three times. Entries
    are weak: the weights are freed when the last method using them goes away.
    """

    def __init__(self) -> None:
        import weakref

        self._items: "weakref.WeakValueDictionary[tuple, Any]" = weakref.WeakValueDictionary()

    def get(self, key: tuple, load: Any) -> Any:
        item = self._items.get(key)
        if item is None:
            item = load()
            self._items[key] = item
        return item


SHARED = SharedModels()
