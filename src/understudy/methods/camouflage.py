"""CAMOUFLaGE-Base (Piano et al.): ControlNet positive control, identity-function negative
control, anonymization scale a_s.

Annotators turn the frame into control maps (pose, canny, segmentation, depth, normal);
one ControlNet per map, each with its weight, steers SD towards an image with the same
layout and the caption. Sampling starts from the original's VAE latent noised to ``strength``. The
negative control, an identity-function ControlNet fed the original's latent, is combined
with the positive prediction CFG-style (``understudy.diffusion.negative``): a_s = 0
reproduces the original, 1 is the positive-control image, > 1 pushes away from the
original. The derivation is in docs/camouflage.md.

Modes: ``scene`` regenerates the whole frame (the paper's setting: every pixel changes);
``person`` (default) generates each region in a crop with context and pastes it back
inside the region's mask with a ``blend`` px feathered edge, so the rest of the frame stays
bit-identical. With ``batch_size`` > 1 the people of one image whose crops share a working
size are denoised together (``understudy.diffusion.batching``: the batch halves on GPU
out-of-memory); each person keeps its own seeded generator, so the result matches
``batch_size=1`` up to the float rounding of batched kernels (see docs/scale.md).

Sweeps: ``anonymization_scale`` takes a float or a list. ``expand_sweep`` (the registry's
sweep for this method, see ``understudy.methods.registry.variants``) turns a list into
one option set per value with the output suffix ``as_<value>`` (the runner writes
``DST/as_<value>/...``); methods built from those option sets share the loaded weights.
In Python, ``Camouflage.anonymize_sweep`` returns one result per value in one call.

Captions (``caption_source``): the paper captions the input, so the output keeps what the
scene shows while the identity goes. By default each person's crop (person mode) or the whole
frame (scene mode) is captioned by ``captioner`` when one is given (any transformers
image-text-to-text model, e.g. BLIP); without one, the caption is built from the gender, age
and emotion *measured* on the original face (``understudy.perception.attributes_measured``;
what is not measured, such as ethnicity, stays unsaid). Random or chosen stand-ins only when
asked: ``attributes="random"``, ``"k=v,..."`` or a file; ``prompt`` fixes one caption for all.
The audit row of each person says which source made its caption (``caption_source``).

a_s = 0 is a reconstruction, not an anonymization: the fail-closed guard masks regions
that come back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError
from understudy.methods.measured import Measurer, TrackMemory
from understudy.scene import EMPTY_REGION, Outcome, Region, RegionResult, Result, Scene

MODES = ("person", "scene")
# Where captions come from, in the order they win: a fixed prompt, attributes the user asked
# for, a captioning model, attributes measured on the original (the default).
CAPTION_SOURCES = ("prompt", "requested", "captioner", "measured")
MEASURED = "measured"  # attributes="measured" names the default explicitly
QUALITY = "realistic, natural light, sharp focus"
DEFAULT_ANONYMIZATION_SCALE = 1.5
SWEEP_PREFIX = "as_"


def parse_mapping(value: Any, option: str, cast: type = str) -> dict[str, Any]:
    """``"pose=path,canny=path"`` or a dict -> ``{name: value}`` (values cast)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip() or not val.strip():
                raise UsageError(f"{option} part {part.strip()!r} is not name=value; example: "
                                 f"{option}=pose=lllyasviel/control_v11p_sd15_openpose,"
                                 "canny=lllyasviel/control_v11p_sd15_canny")
            items.append((key, val))
    else:
        raise UsageError(f"{option} must be 'name=value,...' or a mapping, got "
                         f"{type(value).__name__}")
    out: dict[str, Any] = {}
    for key, val in items:
        try:
            out[str(key).strip()] = cast(val.strip() if isinstance(val, str) else val)
        except (TypeError, ValueError):
            raise UsageError(f"{option} value {val!r} for {key!r} is not a "
                             f"{cast.__name__}") from None
    return out


def parse_scales(value: Any) -> tuple[float, ...]:
    """A float, a list of floats or ``"0,1,1.5"`` -> a tuple of scales >= 0."""
    if isinstance(value, str):
        parts: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    try:
        scales = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        raise UsageError(f"anonymization_scale {value!r} must be a number >= 0 or a list of "
                         "them, e.g. 1.5 or 0,1,1.5,2") from None
    if not scales or any(not np.isfinite(s) or s < 0 for s in scales):
        raise UsageError(f"anonymization_scale {value!r} must be one or more numbers >= 0 "
                         "(0 = original, 1 = positive control, > 1 = further away)")
    return scales


@dataclass
class CamouflageOptions(DiffusionOptions):
    """Options of CAMOUFLaGE-Base; ``model`` and at least one ControlNet are required."""

    controlnets: Any = ""  # "pose=ID_OR_DIR,canny=ID_OR_DIR,..."; names are annotators
    control_weights: Any = ""  # "pose=1.0,canny=0.5"; 1.0 for each one left out
    negative_controlnet: str | None = None  # the IDF ControlNet (or a tile ControlNet)
    negative_weight: float = 1.0
    anonymization_scale: Any = DEFAULT_ANONYMIZATION_SCALE  # float or list (a sweep)
    strength: float = 0.8  # share of the schedule run from the noised original latent
    guidance_scale: float = 7.5
    mode: str = "person"
    resolution: int = 512  # long side of the working image, px
    padding: float = 0.25  # person mode: context around each region, share of its size
    blend: int = 6  # person mode: feathered margin outside each mask, px
    # None/"measured": the original's own (captioner, else measured attributes); "random",
    # "k=v,..." or a file: stand-ins as asked (--attributes)
    attributes: str | None = None
    prompt: str | None = None  # a fixed caption instead of the built one
    negative_prompt: str | None = None  # default: attributes.NEGATIVE_PROMPT
    captioner: str | None = None  # image-text-to-text model (BLIP, a VLM): captions each crop
    depth_model: str | None = None  # depth-estimation model for the depth/normal maps
    batch_size: int = 1  # person mode: people denoised together (--batch-size)
    scales: tuple[float, ...] = field(init=False, repr=False)
    controls: dict[str, str] = field(init=False, repr=False)
    weights: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from understudy.diffusion.annotators import ANNOTATORS

        self.scales = parse_scales(self.anonymization_scale)
        self.controls = parse_mapping(self.controlnets, "controlnets")
        self.weights = parse_mapping(self.control_weights, "control_weights", float)
        for name in [*self.controls, *self.weights]:
            if name not in ANNOTATORS:
                raise UsageError(f"controlnets/control_weights name {name!r} is not an "
                                 f"annotator; allowed: {', '.join(ANNOTATORS)}")
        unused = sorted(set(self.weights) - set(self.controls))
        if unused:
            raise UsageError(f"control_weights gives {', '.join(unused)} but controlnets has no "
                             f"such ControlNet; controlnets names: "
                             f"{', '.join(self.controls) or 'none'}")
        if self.mode not in MODES:
            raise UsageError(f"camouflage mode {self.mode!r} is not known; allowed: "
                             f"{', '.join(MODES)}")
        checks = [("steps", self.steps >= 1, ">= 1"), ("strength", 0 < self.strength <= 1,
                  "in (0, 1]"), ("guidance_scale", self.guidance_scale >= 0, ">= 0"),
                  ("resolution", 64 <= self.resolution <= 2048 and self.resolution % 8 == 0,
                   "a multiple of 8 in [64, 2048]"), ("padding", 0 <= self.padding <= 2,
                  "in [0, 2]"), ("blend", 0 <= self.blend <= 64, "in [0, 64] px"),
                  ("negative_weight", self.negative_weight >= 0, ">= 0"),
                  ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1,
                   "an integer >= 1")]
        for name, ok, allowed in checks:
            if not ok:
                raise UsageError(f"camouflage {name}={getattr(self, name)!r} is not allowed; "
                                 f"use {allowed}")

    def require_model(self) -> None:
        """Called when the method first runs: options alone can be built without weights
        (for `understudy methods`, sweeps and tests), running cannot."""
        if not self.model:
            raise UsageError("method camouflage needs SD weights: set model (--model) to a hub "
                             "id such as stable-diffusion-v1-5/stable-diffusion-v1-5 or a local "
                             "folder")
        if not self.controls:
            raise UsageError("method camouflage needs at least one positive ControlNet: set "
                             "controlnets, e.g. --option controlnets=pose=lllyasviel/"
                             "control_v11p_sd15_openpose,canny=lllyasviel/control_v11p_sd15_canny")
        if any(s != 1.0 for s in self.scales) and not self.negative_controlnet:
            raise UsageError("anonymization_scale other than 1 needs negative_controlnet: an "
                             "IDF ControlNet from `understudy train idf`, or a tile ControlNet "
                             "(e.g. lllyasviel/control_v11f1e_sd15_tile)")


def expand_sweep(options: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One ``(suffix, options)`` per anonymization scale, for runners that write one output
    per method: ``[("as_0", {..., "anonymization_scale": 0.0}), ("as_1.5", {...}), ...]``.

    A single scale (or no ``anonymization_scale``) gives ``[("", options)]``. The suffix
    formats the value with ``:g`` (``as_1``, ``as_1.5``), as the CLI does.
    """
    if "anonymization_scale" not in options:
        return [("", dict(options))]
    scales = parse_scales(options["anonymization_scale"])
    if len(scales) == 1:
        return [("", {**options, "anonymization_scale": scales[0]})]
    return [(f"{SWEEP_PREFIX}{s:g}", {**options, "anonymization_scale": s}) for s in scales]


class Camouflage:
    """CAMOUFLaGE-Base as a ``Method``; weights load on first use and are shared."""

    name = "camouflage"

    def __init__(self, options: CamouflageOptions | None = None):
        self.options = options or CamouflageOptions()
        self._models: dict[str, Any] | None = None
        self._annotators: Any = None
        self._captioner: Any = None
        # The original's gender/age/emotion, and captions, remembered per track (a tracked
        # person keeps one caption through a video).
        self.measurer = Measurer()
        self.captions = TrackMemory()
        from understudy.diffusion.batching import AdaptiveBatcher, BatchingOptions

        # One batcher per method: a batch size shrunk by out-of-memory stays shrunk.
        self.batcher = AdaptiveBatcher(BatchingOptions(batch_size=self.options.batch_size))

    # -- loading ---------------------------------------------------------------------------
    def models(self) -> dict[str, Any]:
        """The sampler, positive ControlNets and negative control, loaded once."""
        if self._models is not None:
            return self._models
        from understudy.diffusion.loading import SHARED, load_controlnet, load_pipeline
        from understudy.diffusion.negative import CamouflageSampler, IdentityControl

        o = self.options
        o.require_model()
        common = (o.dtype, o.device, o.offline)
        pipe = SHARED.get(("sd", o.model, o.offload, *common),
                          lambda: load_pipeline(o.model, "sd", dtype=o.dtype, device=o.device,
                                                offload=o.offload, offline=o.offline))
        nets = {name: SHARED.get(("controlnet", src, *common),
                                 lambda src=src: load_controlnet(src, o.dtype, o.device, o.offline))
                for name, src in o.controls.items()}
        negative = None
        if o.negative_controlnet:
            net = SHARED.get(("controlnet", o.negative_controlnet, *common),
                             lambda: load_controlnet(o.negative_controlnet, o.dtype, o.device,
                                                     o.offline))
            negative = IdentityControl(net, o.negative_weight)
        from understudy.diffusion.annotators import Annotators

        self._annotators = Annotators(o.depth_model, "cpu")
        self._models = {"pipe": pipe, "sampler": CamouflageSampler.from_pipeline(pipe),
                        "nets": nets, "negative": negative}
        return self._models

    def use_components(self, pipe: Any, controlnets: dict[str, Any],
                       negative: Any | None = None) -> "Camouflage":
        """Use already-built components (tests, benchmarks, a notebook holding them)."""
        from understudy.diffusion.annotators import Annotators
        from understudy.diffusion.negative import CamouflageSampler, IdentityControl

        self._annotators = Annotators(self.options.depth_model, "cpu")
        self._models = {"pipe": pipe, "sampler": CamouflageSampler.from_pipeline(pipe),
                        "nets": dict(controlnets),
                        "negative": None if negative is None else
                        negative if hasattr(negative, "predict") else
                        IdentityControl(negative, self.options.negative_weight)}
        return self

    # -- captions --------------------------------------------------------------------------
    @property
    def caption_source(self) -> str:
        """One of ``CAPTION_SOURCES``: what this run's captions are made from."""
        o = self.options
        if o.prompt:
            return "prompt"
        if o.attributes and str(o.attributes).strip().lower() != MEASURED:
            return "requested"
        return "captioner" if o.captioner else "measured"

    def describe_people(self, scene: Scene, regions: list[Region]) -> list[dict[str, Any]]:
        """Per region, what its caption is made of and what the audit row keeps:
        ``{"caption_source", **attribute values}`` (the values requested or measured; none for
        a captioner, whose sentence is added when the crop is captioned)."""
        source = self.caption_source
        if source == "requested":
            return [{**a.to_json(), "caption_source": source}
                    for a in self.person_attributes(scene, regions)]
        if source != "measured":
            return [{"caption_source": source} for _ in regions]
        return [{**values, "caption_source": source}
                for values in self.measurer(scene, regions)]

    def person_attributes(self, scene: Scene, regions: list[Region]) -> list[Any]:
        """The requested (or sampled) stand-in attributes of each region's person, drawn
        from the region's own generator (keyed by track: stable across a video)."""
        from understudy.attributes import parse_attributes

        source = parse_attributes(self.options.attributes)
        out = []
        for i, region in enumerate(regions):
            person = region.person
            out.append(source.for_person(i, region.track_id, scene.rng_for(i, region),
                                         scene.frame.source,
                                         person.attributes if person is not None else None))
        return out

    def person_prompt(self, person: dict[str, Any], crop_image: np.ndarray,
                      scene: Scene | None = None, region: Region | None = None) -> str:
        """The person-mode prompt of one region: the fixed prompt, the captioner's sentence
        for the crop (the first of the region's track), or the requested/measured attributes
        in words."""
        from understudy.attributes import Attributes, partial_phrase

        source = person["caption_source"]
        if source == "prompt":
            return str(self.options.prompt)
        if source == "captioner":
            caption = self.captions.recall(
                scene.frame.source if scene else "", region.track_id if region else None,
                "caption", lambda: self._caption_model(crop_image))
            return f"{caption}, {QUALITY}"
        values = {k: v for k, v in person.items() if k in Attributes.__dataclass_fields__}
        if source == "requested":
            return Attributes(**values).prompt()
        return f"a photo of {partial_phrase(values)}, full body, {QUALITY}"

    def caption(self, scene: Scene, people: list[dict[str, Any]]) -> str:
        """The scene caption: the user's prompt, a captioning model's sentence, or one built
        from every person's requested or measured attributes."""
        from understudy.attributes import partial_phrase

        source = self.caption_source
        if source == "prompt":
            return str(self.options.prompt)
        if source == "captioner":
            return f"{self._caption_model(scene.image)}, {QUALITY}"
        if not people:
            return f"a photo, {QUALITY}"
        phrases = [partial_phrase({k: v for k, v in p.items() if k != "caption_source"})
                   for p in people]
        head = "a photo of " + ("" if len(phrases) == 1 else f"{len(phrases)} people: ")
        return head + "; ".join(phrases) + f", {QUALITY}"

    def _caption_model(self, image: np.ndarray) -> str:
        if self._captioner is None:
            from understudy.diffusion.captioning import Captioner

            self._captioner = Captioner(self.options.captioner, offline=self.options.offline)
        return self._captioner(image)

    # -- running ---------------------------------------------------------------------------
    def margin_for(self, mask: np.ndarray) -> int:
        """Pixels this far outside a region may change: the blend in person mode, anything in scene mode."""
        return self.options.blend if self.options.mode == "person" else max(mask.shape)

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        if len(self.options.scales) != 1:
            raise UsageError("anonymization_scale holds several values; build one method per "
                             "value with expand_sweep, or call anonymize_sweep")
        return self.anonymize_sweep(scene, rng)[0][1]

    def anonymize_sweep(self, scene: Scene, rng: np.random.Generator
                        ) -> list[tuple[str, Result]]:
        """One ``(suffix, Result)`` per anonymization scale, sharing annotators, captions and
        noise (the same seed at every scale, so the sweep shows a_s alone)."""
        models = self.models()
        regions = scene.regions()
        people = self.describe_people(scene, regions)
        maps = {name: self._annotators(name, scene) for name in models["nets"]}
        scales = self.options.scales
        outs = [scene.image.copy() for _ in scales]
        records: list[list[RegionResult]] = [[] for _ in scales]
        if self.options.mode == "scene":
            self._run_scene(scene, regions, people, maps, outs, records)
        else:
            self._run_people(scene, regions, people, maps, outs, records)
        notes = [f"camouflage a_s={s:g}, mode {self.options.mode}" for s in scales]
        suffixes = [f"{SWEEP_PREFIX}{s:g}" if len(scales) > 1 else "" for s in scales]
        scope = "scene" if self.options.mode == "scene" else "regions"
        return [(sfx, Result(out, recs, [note], scope=scope))
                for sfx, out, recs, note in zip(suffixes, outs, records, notes)]

    def _generate(self, jobs: list["_Job"]) -> list[list[np.ndarray]]:
        """For each job (same working size), one image per anonymization scale, in one
        batched pass per scale; every scale starts from the job's own seeded noise."""
        from understudy.attributes import NEGATIVE_PROMPT
        from understudy.diffusion.loading import import_torch
        from understudy.diffusion.negative import PositiveControl

        torch = import_torch()
        o = self.options
        m = self._models
        assert m is not None
        positive = [PositiveControl(name, net, np.stack([j.maps[name] for j in jobs]),
                                    o.weights.get(name, 1.0))
                    for name, net in m["nets"].items()]
        per_scale = []
        for scale in o.scales:
            generators = [torch.Generator().manual_seed(j.seed) for j in jobs]
            per_scale.append(m["sampler"].sample(
                [j.image for j in jobs], [j.prompt for j in jobs], positive, m["negative"],
                negative_prompt=o.negative_prompt if o.negative_prompt is not None
                else NEGATIVE_PROMPT, steps=o.steps, strength=o.strength,
                guidance_scale=o.guidance_scale, anonymization_scale=scale,
                generators=generators))
        return [list(images) for images in zip(*per_scale)]

    def _run_scene(self, scene: Scene, regions: list[Region], people: list[dict[str, Any]],
                   maps: dict[str, np.ndarray], outs: list[np.ndarray],
                   records: list[list[RegionResult]]) -> None:
        from understudy.diffusion.crops import Crop

        crop = Crop.whole(scene.frame.size, self.options.resolution)
        seed = int(scene.rng_for_scene().integers(2**31))
        work_maps = {k: crop.cut(v, nearest=k in ("pose", "segmentation"))
                     for k, v in maps.items()}
        caption = self.caption(scene, people)
        people = [{**p, "caption": caption} for p in people]
        (images,) = self._generate([_Job(crop, crop.cut(scene.image), work_maps, caption, seed)])
        for out, image, recs in zip(outs, images, records):
            out[:] = crop.uncut(image)
            recs.extend(self._record(r, p, Outcome.REPLACED) for r, p in zip(regions, people))

    def _run_people(self, scene: Scene, regions: list[Region], people: list[dict[str, Any]],
                    maps: dict[str, np.ndarray], outs: list[np.ndarray],
                    records: list[list[RegionResult]]) -> None:
        from understudy.diffusion.crops import Crop, paste
        from understudy.diffusion.batching import Failed

        o = self.options
        jobs: list[_Job | None] = []
        for i, (region, person) in enumerate(zip(regions, people)):
            crop = Crop.around(region.mask, o.padding, o.resolution, min_pad=o.blend + 2)
            if crop is None:
                jobs.append(None)
                continue
            seed = int(scene.rng_for(i, region).integers(2**31))
            work_maps = {k: crop.cut(v, nearest=k in ("pose", "segmentation"))
                         for k, v in maps.items()}
            image = crop.cut(scene.image)
            person["caption"] = self.person_prompt(person, image, scene, region)  # audited
            jobs.append(_Job(crop, image, work_maps, person["caption"], seed))
        todo = [j for j in jobs if j is not None]
        # People whose crops share a working size are denoised together.
        done = iter(self.batcher.map(self._generate, todo, key=lambda j: j.crop.work,
                                     errors="return"))
        for region, attrs, job in zip(regions, people, jobs):
            if job is None:
                for recs in records:
                    recs.append(self._record(region, attrs, Outcome.SKIPPED,
                                             EMPTY_REGION))
                continue
            images = next(done)
            if isinstance(images, Failed):  # the guard masks it
                for recs in records:
                    recs.append(self._record(region, attrs, Outcome.FAILED,
                                             f"camouflage: {images.reason}"))
                continue
            # Each person is generated from the original crop; where masks overlap, the later
            # paste wins, and both are generated pixels.
            for out, recs, image in zip(outs, records, images):
                paste(out, job.crop, image, region.mask, o.blend)
                recs.append(self._record(region, attrs, Outcome.REPLACED))

    @staticmethod
    def _record(region: Region, person: dict[str, Any], outcome: Outcome,
                reason: str = "") -> RegionResult:
        return RegionResult(region.kind, region.box, region.score, outcome, reason,
                            region.track_id, dict(person))


@dataclass
class _Job:
    """One working crop to generate: the cut image and control maps, caption and seed."""

    crop: Any  # understudy.diffusion.crops.Crop
    image: np.ndarray
    maps: dict[str, np.ndarray]
    prompt: str
    seed: int

