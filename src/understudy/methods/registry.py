"""The explicit list of methods. Adding a method: write its module, add one spec here."""

from __future__ import annotations

from typing import Any

from understudy.errors import MissingDependency, UsageError
from understudy.methods.base import PIXELS_READ, Method, MethodSpec, build_options

# CAMOUFLaGE's paper anonymizes the whole scene, background included (our default, person
# mode, regenerates each person and keeps the rest bit-identical).
PAPER_SCOPE = {"mode": "scene"}

# ``reads``: the pixel baselines read boxes and masks only, so perception skips MediaPipe pose
# for them. RefSD fits its avatar to the landmarks and CAMOUFLaGE draws them for its pose
# ControlNet. Mask-SD and CAMOUFLaGE-Light read no landmarks but inpaint the mask's shape, and
# the pose-free masks were measured for coverage, not for inpainting: they keep everything
# (pose costs little beside Stable Diffusion).
SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "blur", "Gaussian blur scaled to each region",
        "understudy.methods.blur:Blur",
        presets={"weak": {"strength": "weak"}, "strong": {"strength": "strong"}},
        reads=PIXELS_READ,
    ),
    MethodSpec("pixelate", "coarse blocks over each region", "understudy.methods.pixelate:Pixelate",
               reads=PIXELS_READ),
    MethodSpec("maskout", "solid fill of each region", "understudy.methods.maskout:MaskOut",
               reads=PIXELS_READ),
    MethodSpec("camouflage", "CAMOUFLaGE-Base: ControlNet positive + IDF negative control, anonymization scale", "understudy.methods.camouflage:Camouflage", sweep="understudy.methods.camouflage:expand_sweep", presets={"paper": PAPER_SCOPE}, needs="SD 1.x weights (--model), positive ControlNets (--option controlnets=pose=...) and an IDF or tile ControlNet (--option negative_controlnet=...)", requires=("torch", "diffusers", "transformers"), weights=True),
    MethodSpec("camouflage-light", "CAMOUFLaGE-Light: SD with a trained IP-Adapter (face embedding) and T2I-Adapter (per-person attributes + keypoints)", "understudy.methods.camouflage_light:CamouflageLight", presets={"paper": PAPER_SCOPE}, needs="SD 1.x weights (--model) and adapters from `understudy train camouflage-light` (--option adapters=DIR)", requires=("torch", "diffusers", "transformers"), weights=True),
    MethodSpec("refsd", "RefSD: inpaint the person, fit and render a dressed anny avatar, refine with SD img2img (render mode without weights)", "understudy.methods.refsd:RefSD", targets=("people",), needs="anny body model, pyrender on EGL, MediaPipe landmarks; SD 1.x weights (--model) for stage 3", requires=("torch", "anny", "pyrender", "trimesh", "cv2"),
               without_weights="render mode (no SD weights)",
               weighted_stage_needs=("stage 3 (SD refinement): SD 1.x weights, --model HUB_ID_OR_DIR",
                                     "optional: Canny/pose ControlNets, --option canny_controlnet=... / pose_controlnet=...",
                                     "optional, stage 1: SD inpainting weights, --option inpaint_model=..."),
               weighted_stage_requires=("diffusers", "transformers")),
    MethodSpec("masksd", "Mask-SD baseline: SD inpainting of each dilated person mask from the attribute prompt", "understudy.methods.masksd:MaskSD", needs="SD inpainting weights (--model)", requires=("torch", "diffusers", "transformers"), weights=True),
)

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in SPECS}


def get_spec(name: str) -> MethodSpec:
    base = name.split(":", 1)[0]
    if base not in METHODS:
        raise UsageError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[base]


def variants(name: str, options: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One ``(output folder, options)`` per value of the method's sweep option (e.g.
    ``[("as_0", {...}), ("as_1.5", {...})]``); ``[("", options)]`` when there is nothing to
    sweep. The one place sweeps are expanded: the CLI and the runners call this."""
    import importlib

    spec = get_spec(name)
    if not spec.sweep:
        return [("", dict(options))]
    module, _, attr = spec.sweep.partition(":")
    return list(getattr(importlib.import_module(module), attr)(options))


def target_for(name: str, given: str | None, people_given: bool = False) -> str:
    """The target to use: the one given, else the only one the method works on (RefSD:
    people), else people when the user supplied people (COCO annotations), else faces.
    A given target the method cannot work on is refused later, by ``AnonymizeOptions``."""
    if given is not None:
        return given
    targets = get_spec(name).targets
    if len(targets) == 1:
        return targets[0]
    return "people" if people_given else "faces"


def load_method(name: str, **options: Any) -> Method:
    """Build a method by name, optionally with a preset: ``"blur:weak"`` or ``preset="weak"``.

    Options are the fields of the method's options dataclass; unknown ones are an error.
    """
    spec = get_spec(name)
    preset = options.pop("preset", None) or (name.split(":", 1)[1] if ":" in name else None)
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in spec.presets:
            raise UsageError(f"method {spec.name!r} has no preset {preset!r}; "
                             f"available: {', '.join(spec.presets) or 'none'}")
        values.update(spec.presets[preset])
    values.update({k: v for k, v in options.items() if v is not None})
    missing = spec.missing()
    if missing:
        raise MissingDependency(f"method {spec.name!r} needs {', '.join(missing)}, which",
                                "bash scripts/install.sh (or pip install 'understudy[all]')")
    cls = spec.load_class()
    options_cls = cls.__init__.__annotations__.get("options")
    options_obj = build_options(_resolve(cls, options_cls), values, spec.name)
    return cls(options_obj)


def _resolve(cls: type, annotation: Any) -> type:
    """The options dataclass named in a method's ``__init__(self, options: X | None)``."""
    import typing

    hints = typing.get_type_hints(cls.__init__)
    for arg in typing.get_args(hints["options"]) or (hints["options"],):
        if arg is not type(None):
            return arg
    raise TypeError(f"{cls.__name__}.__init__ has no options annotation")


def accepts_batch_size(method: str) -> bool:
    """Whether a registered method's options dataclass has a ``batch_size`` field: that is
    how a method opts in to ``--batch-size`` (the others run one region at a time)."""
    import dataclasses
    import typing

    spec = get_spec(method)
    if spec.missing():
        return False  # loading the method will report what is missing
    hints = typing.get_type_hints(spec.load_class().__init__)
    for arg in typing.get_args(hints.get("options")) or (hints.get("options"),):
        if dataclasses.is_dataclass(arg):
            return any(f.name == "batch_size" for f in dataclasses.fields(arg))
    return False
