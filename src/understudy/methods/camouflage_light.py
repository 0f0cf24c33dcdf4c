"""CAMOUFLaGE-Light (Piano et al.): SD steered by a trained IP-Adapter and T2I-Adapter.

Each person is described to SD by (1) the embedding of their face crop from a CLIP-style
image encoder, through the IP-Adapter, and (2) their 40 CelebA attributes and 5 facial
keypoints drawn in their own region of a spatial map, through the T2I-Adapter. Sampling
starts from the original's latent noised to ``strength``; ``ip_scale``, ``embedding_noise``
and ``adapter_scale`` trade identity distance against attribute fidelity
(``docs/camouflage-light.md``). Adapters come from ``understudy train camouflage-light``.

Attributes, per person, each source over the one before where it knows a value:

1. measured (``measure``, on by default, for people without a label): gender, age and
   emotion read from the original face by the shipped models
   (``understudy.perception.attributes_measured``) fill ``Male``, ``Young`` and ``Smiling``;
2. a pluggable attribute model (``attribute_model="module:factory"``) on the original face;
3. the dataset's labels (``attribute_labels``, CelebA format, keyed by the image's file
   name; used when the image has one region);
4. the user's ``--attributes``: explicit keys only (the rest is preserved, the paper's
   point), or everything sampled with ``random``.

What no source knows stays unknown (0), a state training teaches with ``attribute_dropout``.
The audit row says where each known key came from (``celeba_sources``) and which keys are
unknown (``celeba_unknown``).

Modes: ``person`` (default) generates each region in a crop with context and pastes it back
inside the region's mask with a ``blend`` px feathered edge, so the rest of the frame stays
bit-identical; ``scene`` regenerates the whole frame at once (the paper's setting), with
each person's face tokens masked to their own region.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from understudy.diffusion.adapters import celeba
from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError
from understudy.methods.measured import Measurer, region_face
from understudy.scene import EMPTY_REGION, Face, Outcome, Region, RegionResult, Result, Scene

MODES = ("person", "scene")


@dataclass
class CamouflageLightOptions(DiffusionOptions):
    """``model`` is the SD 1.x the adapters were trained on: hub id or folder."""

    adapters: str | None = None  # folder written by `understudy train camouflage-light`
    image_encoder: str | None = None  # default: the encoder named in the adapters' light.json
    image_encoder_subfolder: str | None = None
    mode: str = "person"
    steps: int = 20
    strength: float = 0.8  # noise level the original's latent starts from, (0, 1]
    ip_scale: float = 0.6
    adapter_scale: float = 1.0
    embedding_noise: float = 0.3
    guidance_scale: float = 1.0
    resolution: int = 512  # long side of the working image, px
    padding: float = 0.25  # person mode: context around each region, share of its size
    blend: int = 6  # person mode: feathered margin outside each mask, px
    attributes: str | None = None  # as --attributes; None keeps the original's attributes
    attribute_labels: str | None = None  # CelebA list_attr file keyed by image file name
    attribute_model: str | None = None  # "module:factory" returning an AttributeModel
    measure: bool = True  # measure gender/age/emotion on unlabelled originals (Male, Young, Smiling)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"camouflage-light mode {self.mode!r} is not known; allowed: "
                             f"{', '.join(MODES)}")
        self.controls()  # validates steps, strength and the scales
        if self.offload:
            raise UsageError("camouflage-light drives its UNet step by step, which model CPU "
                             "offload does not support; leave offload off")
        if not isinstance(self.resolution, int) or self.resolution < 64:
            raise UsageError(f"camouflage-light resolution must be an integer >= 64, "
                             f"got {self.resolution!r}")
        if not 0 <= self.padding <= 2:
            raise UsageError(f"camouflage-light padding must be in [0, 2], got {self.padding}")
        if not isinstance(self.blend, int) or self.blend < 0:
            raise UsageError(f"camouflage-light blend must be an integer >= 0, got {self.blend!r}")
        if self.attribute_model is not None and ":" not in self.attribute_model:
            raise UsageError(f"camouflage-light attribute_model {self.attribute_model!r} must "
                             f"read 'module:factory' (a callable returning an AttributeModel)")

    def controls(self) -> Any:
        from understudy.diffusion.adapters.generator import GenerationControls

        return GenerationControls(self.steps, self.strength, self.ip_scale, self.adapter_scale,
                                  self.embedding_noise, self.guidance_scale)

    def require_weights(self) -> None:
        if not self.model:
            raise UsageError("method camouflage-light needs SD 1.x weights: --model HUB_ID_OR_DIR")
        if not self.adapters:
            raise UsageError("method camouflage-light needs trained adapters: --option "
                             "adapters=DIR (train with `understudy train camouflage-light`)")


class CamouflageLight:
    """CAMOUFLaGE-Light as a ``Method``; weights load on first use."""

    name = "camouflage-light"

    def __init__(self, options: CamouflageLightOptions | None = None):
        self.options = options or CamouflageLightOptions()
        self._generator: Any = None
        self._encoder: Any = None
        self._attribute_model: Any = None
        self._labels: dict[str, np.ndarray] | None = None
        self.measurer = Measurer()  # the original's gender/age/emotion, once per track

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        if self._generator is not None:
            return
        from understudy.diffusion.loading import SHARED, load_pipeline
        from understudy.diffusion.adapters.networks import META, AdapterMeta, LightAdapters
        from understudy.diffusion.adapters.encoders import load_image_encoder
        from understudy.diffusion.adapters.generator import LightGenerator

        o = self.options
        o.require_weights()
        folder = Path(o.adapters).expanduser()
        meta_path = folder / META
        if not meta_path.is_file():
            raise UsageError(f"adapters folder {o.adapters!r} has no {META}; train one with "
                             f"`understudy train camouflage-light`")
        import json

        meta = AdapterMeta(**json.loads(meta_path.read_text()))
        encoder_source = o.image_encoder or meta.image_encoder
        if not encoder_source:
            raise UsageError("camouflage-light needs --option image_encoder=... (the adapters do "
                             "not name the encoder they were trained with)")
        encoder = load_image_encoder(encoder_source, o.offline, o.image_encoder_subfolder)
        if encoder.embed_dim != meta.image_embed_dim:
            raise UsageError(f"image encoder {encoder_source!r} gives {encoder.embed_dim}-d "
                             f"embeddings; the adapters were trained on {meta.image_embed_dim}-d "
                             f"({meta.image_encoder or 'unknown encoder'})")

        def build() -> LightGenerator:
            # The adapters are installed into the UNet, so this is a pipeline of our own, not
            # the one other methods share (their UNet must stay plain).
            pipe = load_pipeline(o.model, "sd", dtype=o.dtype, device=o.device,
                                 offline=o.offline)
            return LightGenerator.from_pipeline(pipe, LightAdapters.load(folder, pipe.unet))

        generator = SHARED.get(("camouflage-light", o.model, str(folder.resolve()), o.dtype,
                                o.device, o.offline), build)
        encoder.to(generator.device, generator.dtype)
        self.use_components(generator, encoder)

    def use_components(self, generator: Any, encoder: Any,
                       attribute_model: Any = None) -> "CamouflageLight":
        """Use already-built parts (tests, benchmarks, a notebook holding them)."""
        self._generator = generator
        self._encoder = encoder
        if attribute_model is not None:
            self._attribute_model = attribute_model
        return self

    def attribute_model(self) -> Any:
        if self._attribute_model is None and self.options.attribute_model:
            module, _, attr = self.options.attribute_model.partition(":")
            try:
                factory = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise UsageError(f"attribute_model {self.options.attribute_model!r} cannot be "
                                 f"imported: {exc}") from exc
            self._attribute_model = factory()
        return self._attribute_model

    def labels(self) -> dict[str, np.ndarray]:
        if self._labels is None:
            from understudy.diffusion.adapters.celeba import read_attribute_file

            self._labels = (read_attribute_file(self.options.attribute_labels)
                            if self.options.attribute_labels else {})
        return self._labels

    # -- attributes ------------------------------------------------------------------------
    def person_vectors(self, scene: Scene, regions: list[Region],
                       faces: list[Face | None]) -> list["PersonAttributes"]:
        """One CelebA vector per region, with the source of each known value: measured,
        then model, labels and the user's request on top (module docstring)."""
        from understudy.attributes import parse_attributes
        from understudy.diffusion.adapters.conditions import encoder_crop

        people = [PersonAttributes() for _ in regions]
        label = self.labels().get(Path(scene.frame.source).name) if scene.frame.source else None
        labelled = [label is not None and len(regions) == 1 for _ in regions]
        if self.options.measure:
            for person, values in zip(people, self.measurer(scene, regions, skip=labelled)):
                person.update(celeba.from_measured(values), "measured")
        model = self.attribute_model()
        if model is not None:
            idx = [i for i, f in enumerate(faces) if f is not None]
            if idx:
                found = np.asarray(model([encoder_crop(scene.image, faces[i].box) for i in idx]),
                                   np.float32)
                for row, i in zip(found, idx):
                    people[i].update(row, "model")
        if labelled and labelled[0]:
            people[0].update(label, "labels")
        if self.options.attributes is not None:
            source = parse_attributes(self.options.attributes)
            for i, region in enumerate(regions):
                if source.is_random:
                    person = region.person
                    values = source.for_person(i, region.track_id, scene.rng_for(i, region),
                                               scene.frame.source,
                                               person.attributes if person else None).to_json()
                else:
                    values = source.requested(i, region.track_id, scene.frame.source)
                people[i].update(celeba.from_request(values), "requested")
        return people

    # -- running ---------------------------------------------------------------------------
    def margin_for(self, mask: np.ndarray) -> int:
        """Pixels this far outside a region may change: the blend in person mode, anything in scene mode."""
        return self.options.blend if self.options.mode == "person" else max(mask.shape)

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        self.load()
        regions = scene.regions()
        faces = [region_face(r) for r in regions]
        vectors = self.person_vectors(scene, regions, faces)
        out = scene.image.copy()
        if self.options.mode == "scene":
            records = self._run_scene(scene, regions, faces, vectors, out)
        else:
            records = self._run_people(scene, regions, faces, vectors, out)
        return Result(out, records, [f"camouflage-light mode {self.options.mode}, "
                                     f"strength {self.options.strength:g}"],
                      scope="scene" if self.options.mode == "scene" else "regions")

    def _factor(self) -> int:
        g = self._generator
        return g.vae_scale * 2 ** (len(g.unet.config.block_out_channels) - 1)

    def _work_crop(self, crop: Any) -> Any:
        """The crop with a working size the adapter's pyramid divides evenly."""
        f = self._factor()
        h, w = crop.work
        return dataclasses.replace(crop, work=(max(f, round(h / f) * f), max(f, round(w / f) * f)))

    def _generate(self, work_image: np.ndarray, conditions: list[Any], embeds: Any,
                  masks: bool, seed: int) -> np.ndarray:
        import torch

        from understudy.diffusion.adapters.encoding import encode_people, ownership

        h, w = work_image.shape[:2]
        image = torch.from_numpy(work_image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        cond = torch.from_numpy(encode_people((h, w), conditions))[None]
        ip_masks = None
        if masks and conditions:
            owner = ownership((h, w), conditions)
            ip_masks = torch.from_numpy(np.stack([owner == i for i in range(len(conditions))])
                                        .astype(np.float32))[None]
        generator = torch.Generator().manual_seed(seed)
        out = self._generator(image, cond, embeds, self.options.controls(), ip_masks=ip_masks,
                              generator=generator)
        return ((out[0].permute(1, 2, 0).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255) \
            .astype(np.uint8)

    def _embeds(self, crops: list[np.ndarray | None]) -> Any:
        """``(1, N, D)``: the encoder's embedding per person; zeros (the unconditional
        embedding the adapters were trained with) where there is no face to embed."""
        import torch

        g = self._generator
        out = torch.zeros((1, len(crops), self._encoder.embed_dim), dtype=g.dtype)
        idx = [i for i, c in enumerate(crops) if c is not None]
        if idx:
            found = self._encoder([crops[i] for i in idx]).to("cpu", g.dtype)
            out[0, idx] = found
        return out

    def _run_people(self, scene: Scene, regions: list[Region], faces: list[Face | None],
                    vectors: list["PersonAttributes"], out: np.ndarray) -> list[RegionResult]:
        from understudy.diffusion.crops import Crop, paste
        from understudy.diffusion.adapters.conditions import encoder_crop, face_condition
        from understudy.diffusion.adapters.encoding import crop_condition

        o = self.options
        records = []
        for i, (region, face, person) in enumerate(zip(regions, faces, vectors)):
            vec = person.vector
            crop = Crop.around(region.mask, o.padding, o.resolution, min_pad=o.blend + 2)
            if crop is None:
                records.append(_record(region, person, Outcome.SKIPPED,
                                       EMPTY_REGION))
                continue
            crop = self._work_crop(crop)
            conditions = []
            crops: list[np.ndarray | None] = [None]
            if face is not None:
                cond = face_condition(face.box, face.landmarks, vec, scene.frame.size)
                conditions = [crop_condition(cond, (crop.x0, crop.y0, crop.x1, crop.y1), crop.work)]
                crops = [encoder_crop(scene.image, face.box)]
            seed = int(scene.rng_for(i, region).integers(2**31))
            generated = self._generate(crop.cut(scene.image), conditions, self._embeds(crops),
                                       masks=False, seed=seed)
            # Each person is generated from the original crop; where masks overlap, the later
            # paste wins, and both are generated pixels.
            paste(out, crop, generated, region.mask, o.blend)
            records.append(_record(region, person, Outcome.REPLACED))
        return records

    def _run_scene(self, scene: Scene, regions: list[Region], faces: list[Face | None],
                   vectors: list["PersonAttributes"], out: np.ndarray) -> list[RegionResult]:
        from understudy.diffusion.crops import Crop
        from understudy.diffusion.adapters.conditions import encoder_crop, face_condition
        from understudy.diffusion.adapters.encoding import crop_condition

        if not regions:
            return []
        crop = self._work_crop(Crop.whole(scene.frame.size, self.options.resolution))
        box = (crop.x0, crop.y0, crop.x1, crop.y1)
        conditions, crops = [], []
        for region, face, person in zip(regions, faces, vectors):
            vec = person.vector
            if face is not None:
                cond = face_condition(face.box, face.landmarks, vec, scene.frame.size)
                crops.append(encoder_crop(scene.image, face.box))
            else:  # no face: the whole region carries the attributes, no face tokens
                cond = face_condition(region.box, None, vec, scene.frame.size, region=region.mask)
                crops.append(None)
            conditions.append(crop_condition(cond, box, crop.work))
        seed = int(scene.rng_for_scene().integers(2**31))
        generated = self._generate(crop.cut(scene.image), conditions, self._embeds(crops),
                                   masks=True, seed=seed)
        out[:] = crop.uncut(generated)
        return [_record(r, v, Outcome.REPLACED) for r, v in zip(regions, vectors)]


@dataclass
class PersonAttributes:
    """One person's CelebA vector (+1/-1, 0 unknown) and where each known value came from."""

    vector: np.ndarray = field(default_factory=celeba.unknown)
    sources: dict[str, str] = field(default_factory=dict)  # CelebA name -> source

    def update(self, values: np.ndarray, source: str) -> None:
        """``values``' known (non-zero) entries over the vector, recording ``source``."""
        known = np.asarray(values) != 0
        self.vector = np.where(known, values, self.vector).astype(np.float32)
        for i in np.flatnonzero(known):
            self.sources[celeba.CELEBA_ATTRIBUTES[i]] = source

    def audit(self) -> dict[str, Any]:
        """``celeba`` (the confident values), ``celeba_sources`` and ``celeba_unknown``."""
        names = celeba.CELEBA_ATTRIBUTES
        return {"celeba": celeba.describe(self.vector),
                "celeba_sources": {k: self.sources[k] for k in names if k in self.sources},
                "celeba_unknown": [k for k, v in zip(names, self.vector) if v == 0]}


def _record(region: Region, person: PersonAttributes, outcome: Outcome,
            reason: str = "") -> RegionResult:
    return RegionResult(region.kind, region.box, region.score, outcome, reason, region.track_id,
                        person.audit())
