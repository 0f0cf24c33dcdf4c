"""RefSD (Rendering-Refined Stable Diffusion, Patwari et al.): replace every person with a
rendered, dressed 3D avatar in the same posture, then refine it with Stable Diffusion.

1. Removal: each person's region is dilated by a margin (``margin`` px, or by default
   ``regions.person_margin``: 3 % of the person's height, at least 6 px) and the union of
   those holes is inpainted (``understudy.diffusion.inpaint``: OpenCV Telea, or SD inpainting weights).
2. Avatar: an anny body with the person's stand-in phenotype (``understudy.attributes`` ->
   ``understudy.body.phenotype``) and a sampled outfit (``understudy.body.clothing``) is
   fitted to the person's MediaPipe 3D and 2D landmarks (``understudy.body.fit``), rendered
   offscreen with light taken from the surroundings, and composited far to near inside the
   dilated region (``understudy.render``).
3. Refinement (only with ``model``): SD img2img on a crop around each person with the
   attribute prompt, optionally with pose and Canny ControlNets (``refsd_refine``).

Without diffusion weights RefSD runs stages 1-2 ("render" mode), says so once in the
result notes, and records the mode per person in the audit. Only pixels inside the dilated
person regions change. A person without usable landmarks, or whose fit or render fails, is
reported ``failed`` and the fail-closed guard masks them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.attributes import NEGATIVE_PROMPT, parse_attributes
from understudy.diffusion.options import DiffusionOptions
from understudy.errors import UsageError
from understudy.regions import dilate, mask_bbox, person_margin
from understudy.methods.blur import blur_inside
from understudy.scene import EMPTY_REGION, Outcome, Person, RegionResult, Result, Scene

READ_MARGIN = 2  # the inpainting reads from beyond this many margins of each person
RENDER_NOTE = ("refsd: render mode (no diffusion weights given with --model): avatars are "
               "rendered and composited without Stable Diffusion refinement")
STAGES = ("inpaint", "fit", "render", "refine")
# In video, a track's surrounding colour (which sets its light) moves this share of the way
# to each new frame's: the stand-in's light follows the scene without flickering.
LIGHT_FOLLOW = 0.3
# In video, a person whose landmarks cannot place a body this frame (walking out through the
# frame's edge, most landmarks outside it) keeps the body fitted on their track's last frame
# that could, at most this many frames ago, moved with their landmarks: a stand-in that walks
# out of view instead of a black sliver blinking in after it (issue 20).
FIT_REUSE_FRAMES = 10
# In video, a person's fit starts from their track's fit when it is at most this many frames
# old (``FitOptions.warm_steps`` instead of ``steps``): at 10 fps a walker's limbs turn a
# few degrees per frame, and after a longer gap the closed-form start is as close.
WARM_FRAMES = 3


@dataclass
class RefSDOptions(DiffusionOptions):
    """``model``: SD 1.x weights for stage 3; None = render mode. The shared diffusion fields
    (``DiffusionOptions``) reach stage 1's SD inpainting and stage 3 alike."""

    attributes: str | None = "random"  # "random", "age=30s,gender=female,...", or a file
    margin: int | None = None  # dilation of each person region, px (default: 3 % of height)
    inpaint: str = "telea"  # telea | ns | sd
    inpaint_model: str | None = None  # SD inpainting weights; implies inpaint="sd"
    pose_controlnet: str | None = None
    canny_controlnet: str | None = None
    strength: float = 0.45
    guidance: float = 7.5
    resolution: int = 512
    fit_steps: int = 60
    focal: float | None = None  # camera focal length in px when known
    anny_cache: str | None = None  # anny's model cache (default ~/.cache/understudy/anny)
    seed_offset: int = 0
    batch_size: int = 1  # stage 3: people refined in one pipeline call (--batch-size)
    # Video: fill each hole from the clean background seen in other frames where the camera
    # is still (render/plate.py), inpainting only what was never seen.
    plate: bool = True

    def __post_init__(self) -> None:
        if self.margin is not None and self.margin < 0:
            raise UsageError(f"refsd margin must be >= 0 px, got {self.margin}")
        if self.inpaint_model and self.inpaint not in ("telea", "sd"):
            raise UsageError(f"refsd inpaint_model was given with inpaint={self.inpaint!r}; "
                             "use inpaint=sd (or leave inpaint unset)")
        if self.inpaint_model:
            self.inpaint = "sd"
        if (self.pose_controlnet or self.canny_controlnet) and not self.model:
            raise UsageError("refsd ControlNets need SD weights for stage 3: give --model")
        if self.fit_steps < 0:
            raise UsageError(f"refsd fit_steps must be >= 0, got {self.fit_steps}")
        self.source = parse_attributes(self.attributes)
        # Build the sub-options now so that a wrong value fails before any model loads.
        from understudy.body.fit import FitOptions
        from understudy.diffusion.inpaint import InpaintOptions

        self.fit = FitOptions(steps=self.fit_steps, focal=self.focal)
        self.inpaint_options = InpaintOptions(**{
            **self.diffusion(), "model": self.inpaint_model}, method=self.inpaint,
            size=self.resolution, guidance=self.guidance)
        self.refine = None
        if self.model:
            from understudy.methods.refsd_refine import RefineOptions

            self.refine = RefineOptions(
                **self.diffusion(), pose_controlnet=self.pose_controlnet,
                canny_controlnet=self.canny_controlnet, strength=self.strength,
                guidance=self.guidance, resolution=self.resolution,
                batch_size=self.batch_size)

    @property
    def mode(self) -> str:
        return "refined" if self.model else "render"


@dataclass
class VideoMemory:
    """What RefSD carries along one video, from ``begin_video`` to ``end_video``."""

    plate: Any = None  # a render.plate.BackgroundPlate, or None (off, or photos)
    colours: dict[int, np.ndarray] = field(default_factory=dict)  # track -> smoothed colour
    # track -> (seed, the avatar's vertex labels, colours and cloth offsets): a stand-in's
    # look is the same on every frame of its track, so it is worked out once.
    looks: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)
    # track -> (frame, fitted body, median landmark position in the image)
    fits: dict[int, tuple[int, Any, np.ndarray]] = field(default_factory=dict)

    def steady_colour(self, track_id: int | None, colour: np.ndarray | None
                      ) -> np.ndarray | None:
        """The track's surrounding colour, smoothed along the track."""
        if track_id is None or colour is None:
            return colour
        last = self.colours.get(track_id)
        steady = colour if last is None else last + LIGHT_FOLLOW * (colour - last)
        self.colours[track_id] = steady
        return steady

    def remember_fit(self, track_id: int | None, frame: int, fit: Any,
                     person: Person | None) -> None:
        centre = _landmark_centre(person)
        if track_id is not None and centre is not None:
            self.fits[track_id] = (frame, fit, centre)

    def warm_start(self, track_id: int | None, frame: int) -> Any:
        """The pose of the track's fit on a recent frame (a ``body.fit.FitStart``), or None."""
        last = self.fits.get(track_id) if track_id is not None else None
        if last is None or not 0 < frame - last[0] <= WARM_FRAMES:
            return None
        return last[1].start

    def reuse_fit(self, track_id: int | None, frame: int, person: Person | None,
                  focal: float) -> Any:
        """The track's last fitted body moved to where this frame's landmarks are, or None
        (no track, no recent fit, no landmarks to say where they went)."""
        from dataclasses import replace as replaced

        last = self.fits.get(track_id) if track_id is not None else None
        centre = _landmark_centre(person)
        if last is None or centre is None or not 0 < frame - last[0] <= FIT_REUSE_FRAMES:
            return None
        _, fit, then = last
        dx, dy = (centre - then) * fit.depth / focal  # px -> metres at the body
        shift = np.array([dx, dy, 0.0], np.float32)
        return replaced(fit, vertices=fit.vertices + shift,
                        keypoints2d=fit.keypoints2d + (centre - then).astype(np.float32))


class RefSD:
    name = "refsd"

    def __init__(self, options: RefSDOptions | None = None, body: Any = None,
                 inpaint_pipeline: Any = None, refine_pipeline: Any = None,
                 keep_stages: bool = False):
        from understudy.diffusion.inpaint import Inpainter

        self.options = options or RefSDOptions()
        self._body = body  # a loaded BodyModel can be shared (tests, batch workers)
        self._renderer = None
        self.inpainter = Inpainter(self.options.inpaint_options, inpaint_pipeline)
        self.refiner = None
        if self.options.refine is not None:
            from understudy.methods.refsd_refine import Refiner

            self.refiner = Refiner(self.options.refine, refine_pipeline)
        self._said_mode = False
        # With keep_stages, the last image's intermediate outputs (for docs and debugging):
        # "holes" (H, W) bool, "inpainted" and "composite" (H, W, 3) uint8.
        self.keep_stages = keep_stages
        self.stages: dict[str, np.ndarray] = {}
        self.timings: dict[str, float] = {s: 0.0 for s in STAGES}  # seconds, summed
        self.people_done = 0
        self._video: VideoMemory | None = None  # set between begin_video and end_video

    @property
    def body(self) -> Any:
        if self._body is None:
            from understudy.body.model import load_body_model

            self._body = load_body_model(self.options.anny_cache)
        return self._body

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from understudy.render.offscreen import Renderer

            self._renderer = Renderer()
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def begin_video(self) -> None:
        from understudy.render.plate import BackgroundPlate

        self._video = VideoMemory(BackgroundPlate() if self.options.plate else None)

    def end_video(self) -> None:
        self._video = None

    def margin_for(self, mask: np.ndarray) -> int:
        if self.options.margin is not None:
            return int(self.options.margin)
        return person_margin(mask)

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result:
        if scene.target != "people":
            raise UsageError("method refsd replaces whole people: use --target people")
        from understudy.body.clothing import EYES, SKIN, THICKNESS, sample_outfit, \
            vertex_colors, vertex_regions
        from understudy.body.fit import fit_bodies
        from understudy.body.phenotype import phenotype_for
        from understudy.render.composite import composite, light_for, match_light_to, ring, \
            surroundings_colour
        from understudy.render.offscreen import Camera, vertex_normals
        from understudy.render.silhouette import best_growth

        image = scene.image
        h, w = scene.frame.size
        regions = scene.regions()
        allowed = [dilate(r.mask, self.margin_for(r.mask)) if r.mask.any() else r.mask
                   for r in regions]
        hole = np.zeros((h, w), bool)
        for r, a in zip(regions, allowed):
            if r.kind == "person":  # a face with no person around it is blurred, not removed
                hole |= a
        # The fill reads no pixel within a second margin of anyone: a mask's soft edge
        # (hair, a sleeve) lies just outside it and would come back as a smear of the
        # person's own colours (issue 14: the colour attacker's 46.7 % came from there).
        unread = np.zeros((h, w), bool)
        for r in regions:
            if r.mask.any():
                unread |= dilate(r.mask, READ_MARGIN * self.margin_for(r.mask))
        unread &= ~hole
        base_seed = int(rng.integers(2**31 - 1)) + self.options.seed_offset

        t = time.perf_counter()
        source, from_plate = image, np.zeros_like(hole)
        if self._video is not None and self._video.plate is not None:
            covered = hole | unread
            self._video.plate.observe(image, covered, scene.frame.index)
            source, from_plate = self._video.plate.fill(image, hole, covered, scene.frame.index)
        background = self.inpainter(source, hole & ~from_plate, base_seed, parts=allowed,
                                    unread=unread)
        self.timings["inpaint"] += time.perf_counter() - t

        records: list[RegionResult | None] = [None] * len(regions)
        todo = []  # (region index, attributes, phenotype, outfit, seed)
        for i, region in enumerate(regions):
            person = region.person
            if not region.mask.any():
                records[i] = RegionResult(region.kind, region.box, region.score, Outcome.SKIPPED,
                                          EMPTY_REGION, region.track_id)
                continue
            if region.uncertain:
                records[i] = RegionResult(region.kind, region.box, region.score, Outcome.FAILED,
                                          "uncertain detection", region.track_id)
                continue
            if region.kind == "face":  # blurred at the end, over the final image
                continue
            prng = scene.rng_for(i, region)
            attrs = self.options.source.for_person(
                i, region.track_id, prng, source=scene.frame.source,
                overrides=person.attributes if person is not None else None)
            pheno = phenotype_for(attrs, prng)
            outfit = sample_outfit(attrs, prng, pheno.skin)
            seed = int(prng.integers(2**31 - 1)) + self.options.seed_offset
            todo.append((i, attrs, pheno, outfit, seed))

        t = time.perf_counter()
        focal = self.options.fit.focal_for((h, w))
        entries = [pose_entry(regions[i].person, regions[i].mask, pheno.values, (h, w), focal)
                   for i, _, pheno, _, _ in todo]
        if self._video is not None:
            for entry, (i, *_) in zip(entries, todo):
                entry["warm"] = self._video.warm_start(regions[i].track_id, scene.frame.index)
        else:
            # Photos: the fit also follows the person's outline (body.fit's silhouette term;
            # median IoU 0.797 -> 0.810 on the labelled set, ~0.3 s more per person). Video
            # keeps its 0.3 s per person-frame budget, and its fits lean on the track.
            for entry, (i, *_) in zip(entries, todo):
                entry["silhouette"] = _own_outline(regions[i])
        fits = fit_bodies(self.body, entries, (h, w), self.options.fit) if entries else []
        self.timings["fit"] += time.perf_counter() - t

        t = time.perf_counter()
        body = self.body
        faces = body.faces[~body.hidden_faces]
        camera = Camera(self.options.fit.focal_for((h, w)), w / 2.0, h / 2.0)
        layers = []
        info: dict[int, dict[str, Any]] = {}
        for (i, attrs, pheno, outfit, seed), fit, entry in zip(todo, fits, entries):
            region = regions[i]
            if isinstance(fit, str) and self._video is not None:
                reused = self._video.reuse_fit(region.track_id, scene.frame.index,
                                               region.person, camera.focal)
                if reused is not None:
                    fit, entry = reused, dict(entry, source="track-fit")
            elif self._video is not None:
                self._video.remember_fit(region.track_id, scene.frame.index, fit, region.person)
            if isinstance(fit, str):
                reason = entry.get("problem", fit)
                records[i] = RegionResult(region.kind, region.box, region.score, Outcome.FAILED,
                                          f"refsd: {reason}", region.track_id)
                continue
            try:
                crop = mask_bbox(allowed[i])
                track = region.track_id if self._video is not None else None
                look = self._video.looks.get(track) if track is not None else None
                if look is None or look[0] != seed:
                    prng = np.random.default_rng(seed)
                    labels = vertex_regions(body, fit.rest_vertices, fit.rest_heads, outfit)
                    colors = vertex_colors(labels, fit.rest_vertices, outfit, pheno.skin, prng)
                    offset = np.vectorize(THICKNESS.get)(labels).astype(np.float32)
                    look = (seed, labels, colors, offset)
                    if track is not None:
                        self._video.looks[track] = look
                _, labels, colors, offset = look
                normals = vertex_normals(fit.vertices, body.faces)
                verts = fit.vertices + normals * offset[:, None]
                # Light from beyond the band the inpainting does not read either: a
                # person's missed edge must not tint their stand-in.
                around = ring(dilate(allowed[i], self.margin_for(region.mask)), 12)
                colour = surroundings_colour(background, around)
                if self._video is not None:
                    colour = self._video.steady_colour(region.track_id, colour)
                light = light_for(colour)
                layer = self.renderer.render(verts, faces, colors, camera, crop, light)
                # Clothes as loose as the person's outline asks (render/silhouette.py).
                x0, y0, x1, y1 = crop
                outline = _own_outline(region)
                grow = best_growth(layer.alpha > 0.5, outline[y0:y1, x0:x1],
                                   _height(region.mask))[0] if outline is not None else 0
                if grow:
                    loose = grow * fit.depth / camera.focal  # px -> metres at the body
                    # Looser clothes only (hands and face keep their size); thinning takes
                    # the whole body, or the skin would show through the clothes.
                    moved = (labels != SKIN) & (labels != EYES) if grow > 0 else labels >= 0
                    verts = verts + normals * (loose * moved)[:, None].astype(np.float32)
                    layer = self.renderer.render(verts, faces, colors, camera, crop, light)
                layer = match_light_to(layer, colour)
            except Exception as exc:  # noqa: BLE001 - one person's failure is masked, not fatal
                records[i] = RegionResult(region.kind, region.box, region.score, Outcome.FAILED,
                                          f"refsd render failed: {type(exc).__name__}: {exc}"[:300],
                                          region.track_id)
                continue
            layers.append((layer, crop, allowed[i], fit.depth))
            info[i] = {"attrs": attrs, "pheno": pheno, "outfit": outfit, "seed": seed,
                       "pose_source": entry["source"],
                       "fit": fit, "layer": layer, "crop": crop}
        out = composite(background, layers)
        self.timings["render"] += time.perf_counter() - t
        if self.keep_stages:
            self.stages = {"holes": hole, "inpainted": background, "composite": out}

        if self.refiner is not None and info:
            t = time.perf_counter()
            out, failed = self._refine(scene, out, regions, allowed, info)
            self.timings["refine"] += time.perf_counter() - t
            for i, reason in failed.items():  # the guard masks them
                region = regions[i]
                records[i] = RegionResult(region.kind, region.box, region.score, Outcome.FAILED,
                                          f"refsd refine failed: {reason}", region.track_id)
                del info[i]

        for i, data in info.items():
            region = regions[i]
            own = _silhouette(region)
            audit = {
                "method": "refsd", "mode": self.options.mode,
                "attributes": data["attrs"].to_json(),
                "attribute_source": self.options.source.spec,
                "outfit": data["outfit"].to_json(),
                "skin": list(data["pheno"].skin),
                "seed": data["seed"],
                "pose_source": data["pose_source"],
                "fit_error_px": round(data["fit"].error_px, 2),
                # Over the person's own height (their mask), not the privacy region's.
                "fit_error_share": round(data["fit"].error_px / max(_height(own), 1), 4),
                "silhouette_iou": round(silhouette_iou(data["layer"], data["crop"], own), 3),
                "margin_px": self.margin_for(region.mask),
                "inpaint": self.options.inpaint,
            }
            if self._video is not None and self._video.plate is not None:
                # Share of the removed region filled with background seen in other frames.
                audit["plate_share"] = round(float(from_plate[allowed[i]].mean()), 3)
            if self.refiner is not None:
                audit["prompt"] = data["attrs"].prompt(data["outfit"].describe())
            records[i] = RegionResult(region.kind, region.box, region.score, Outcome.REPLACED,
                                      track_id=region.track_id, attributes=audit)
        self.people_done += len(info)
        # A face that belongs to no person (a crowd, a poster: people mode still hides it)
        # has no body to fit: the strong blur of `--method blur`, audited as such.
        for i, region in enumerate(regions):
            if region.kind == "face" and records[i] is None:
                blur_inside(out, region.mask)
                records[i] = RegionResult(region.kind, region.box, region.score,
                                          Outcome.REPLACED, track_id=region.track_id,
                                          attributes={"method": "blur", "strength": "strong",
                                                      "why": "face with no person around it"})
        notes = []
        if self.refiner is None and not self._said_mode:
            notes.append(RENDER_NOTE)
            self._said_mode = True
        return Result(out, [r for r in records if r is not None], notes)

    def _refine(self, scene: Scene, image: np.ndarray, regions, allowed,
                info: dict[int, dict[str, Any]]) -> tuple[np.ndarray, dict[int, str]]:
        """Stage 3 per person, far to near so that nearer people are refined last (in
        batches of people whose crops do not overlap, see ``Refiner.refine_many``).
        Returns the image and the failure reason of each person it could not refine."""
        import cv2

        from understudy.diffusion.annotators import CANNY_THRESHOLDS, draw_pose
        from understudy.methods.refsd_refine import RefineJob

        h, w = scene.frame.size
        order = sorted(info, key=lambda i: -info[i]["fit"].depth)
        jobs = []
        for i in order:
            data = info[i]
            controls: dict[str, np.ndarray] = {}
            kinds = self.options.refine.controlnets if self.options.refine else {}
            if "pose" in kinds:
                one = Scene(scene.frame, people=[regions[i].person], target="people")
                controls["pose"] = draw_pose(one)
            if "canny" in kinds:
                x0, y0, x1, y1 = data["crop"]
                layer = data["layer"]
                avatar = (layer.rgb * (layer.alpha[..., None] > 0.5)).astype(np.uint8)
                edges = np.zeros((h, w), np.uint8)
                edges[y0:y1, x0:x1] = cv2.Canny(cv2.cvtColor(avatar, cv2.COLOR_RGB2GRAY),
                                                *CANNY_THRESHOLDS)
                controls["canny"] = np.repeat(edges[:, :, None], 3, axis=2)
            prompt = data["attrs"].prompt(data["outfit"].describe())
            jobs.append(RefineJob(allowed[i], prompt, NEGATIVE_PROMPT, data["seed"], controls))
        image, failures = self.refiner.refine_many(image, jobs)
        return image, {i: f.reason for i, f in zip(order, failures) if f is not None}


def silhouette_iou(layer: Any, crop: tuple[int, int, int, int], mask: np.ndarray) -> float:
    """IoU of the avatar's silhouette (alpha > 0.5, before clipping) and the person's mask."""
    x0, y0, x1, y1 = crop
    avatar = np.zeros(mask.shape, bool)
    avatar[y0:y1, x0:x1] = layer.alpha > 0.5
    union = (avatar | mask).sum()
    return float((avatar & mask).sum() / union) if union else 0.0


def _small_span(person: Person | None) -> str:
    """Why MediaPipe's landmarks cannot be this person's body, or "" when they can."""
    from understudy.perception.pose import MIN_LANDMARK_SPAN, landmark_span

    if person is None or person.keypoints2d is None or person.keypoint_format != "mediapipe33":
        return ""
    span = landmark_span(person.keypoints2d, person.box)
    return "" if span >= MIN_LANDMARK_SPAN else (
        f"MediaPipe's landmarks span {span:.0%} of the person's box height")


def _on_its_head(person: Person) -> str:
    """Why MediaPipe's landmarks cannot stand a stand-in: the head below the hips
    (``posture.upside_down``), or "" when they can. Fitted, such a pose stood a stand-in on
    its head over a woman walking behind a man (vtest frame 759)."""
    from understudy.perception.posture import upside_down

    if person.keypoint_format != "mediapipe33" or not upside_down(person.keypoints2d,
                                                                   person.box):
        return ""
    return "MediaPipe's landmarks are upside down (the head below the hips)"


def _own_outline(region: Any) -> np.ndarray | None:
    """The person's silhouette when it can be followed: a mask that holds them. A sliver of
    their box (``regions.unvouched_mask``: a segmenter that found the ball in a catcher's
    hands) pulled the fit into a crumpled figure a fifth of the person's size."""
    from understudy.regions import unvouched_mask

    person = region.person
    if person is None or person.mask is None or not person.mask.any() or unvouched_mask(person):
        return None
    return person.mask.astype(bool)


def _silhouette(region: Any) -> np.ndarray:
    """The person's own silhouette (the segmenter's mask), not the region that also covers
    hands, feet and head discs for privacy."""
    person = region.person
    if person is not None and person.mask is not None and person.mask.any():
        return person.mask.astype(bool)
    return region.mask


def _height(mask: np.ndarray) -> int:
    bounds = mask_bbox(mask)
    return 0 if bounds is None else bounds[3] - bounds[1]


def _landmark_centre(person: Person | None) -> np.ndarray | None:
    """The median image position of a person's 2D landmarks (seen or not: a person carried
    out through the frame's edge has them moved along, outside the frame)."""
    if person is None or person.keypoints2d is None:
        return None
    return np.median(np.asarray(person.keypoints2d, np.float32)[:, :2], axis=0)


def pose_entry(person: Person | None, mask: np.ndarray, phenotype: dict[str, float],
               size: tuple[int, int], focal: float | None = None) -> dict[str, Any]:
    """The landmarks to fit one person to, best first: MediaPipe's measured 2D + 3D
    landmarks; else COCO-17 keypoints (a multi-person model's, or the annotation's) lifted
    to 3D with a depth prior (``understudy.body.lift``). ``source`` names the one used, or
    "none" with MediaPipe's reason when neither can place a body (the person fails closed).

    Last comes the person's face: a body standing upright under it, facing the camera
    (``source`` "face"), before failing closed.

    MediaPipe's landmarks with the legs folded under the hips, or the head not above them,
    give way to COCO-17 keypoints that stand the person upright on their feet
    (``perception.posture.coco17_to_follow``); without such keypoints they are kept: a stand-in
    seated in mid-air still hides the person, a mask would hide the scene too. Landmarks with
    the head below the hips are refused like missing ones (the fallbacks follow): a stand-in on
    its head is no one's posture."""
    from understudy.body.fit import check_landmarks
    from understudy.body.lift import upright_under_face
    from understudy.perception.posture import coco17_to_follow

    base = {"phenotype": phenotype, "scale": _height(mask)}
    mediapipe = dict(base, keypoints2d=None, keypoints3d=None, source="mediapipe")
    if person is not None and person.keypoint_format == "mediapipe33":
        mediapipe.update(keypoints2d=person.keypoints2d, keypoints3d=person.keypoints3d)
    if person is not None and (person.pose_from_track or person.interpolated):
        mediapipe["source"] = "track"  # video: from the neighbouring frames of the track
    problem = check_landmarks(mediapipe, size, focal) or _small_span(person)
    coco = _coco17(person)
    if not problem:
        # (Landmarks that pass the checks are a person's: ``person`` is not None here.)
        if (coco is not None and mediapipe["source"] == "mediapipe"
                and coco17_to_follow(coco, person.keypoints2d, person.mask, person.box)):
            lifted = _lifted(base, coco, person.box, size, focal)
            if isinstance(lifted, dict):
                return lifted
        problem = _on_its_head(person)
        if not problem:
            return mediapipe
    # No landmarks in a "none" entry: the fit must not follow the ones just refused (a
    # walker's pose found in the bush above him became a stand-in lying on its side).
    none = dict(base, keypoints2d=None, keypoints3d=None, source="none")
    if coco is None:
        problem = f"{problem}; no COCO-17 keypoints either"
    else:
        lifted = _lifted(base, coco, person.box, size, focal)
        if isinstance(lifted, dict):
            return lifted
        problem = f"{problem}; {lifted}"
    # Last, their face: an upright body under it (``body.lift.upright_under_face``).
    faces = person.faces if person is not None else []
    if not faces:
        return dict(none, problem=problem)
    face = max(faces, key=lambda f: float(f.box[3] - f.box[1]))
    lifted = _lifted(base, upright_under_face(face.box, size), person.box, size, focal,
                     source="face")
    if isinstance(lifted, dict):
        return lifted
    return dict(none, problem=f"{problem}; face: {lifted}")


def _coco17(person: Person | None) -> np.ndarray | None:
    """The person's COCO-17 keypoints (a multi-person model's, or the annotation's), if any."""
    if person is None:
        return None
    coco = person.keypoints_coco17
    if coco is None and person.keypoint_format == "coco17":
        coco = person.keypoints2d
    return coco if coco is not None and np.shape(coco) == (17, 3) else None


def _lifted(base: dict[str, Any], coco: np.ndarray, box: np.ndarray, size: tuple[int, int],
            focal: float | None, source: str = "coco17") -> dict[str, Any] | str:
    """The entry for COCO-17 keypoints lifted to 3D, or why they cannot place a body."""
    from understudy.body.fit import check_landmarks
    from understudy.body.lift import PRIOR_WEIGHT, lift_coco17

    try:
        k2, k3 = lift_coco17(coco, box)
    except ValueError as exc:
        return f"COCO-17: {exc}"
    lifted = dict(base, keypoints2d=k2, keypoints3d=k3, weight3d=PRIOR_WEIGHT, source=source)
    problem = check_landmarks(lifted, size, focal)
    return f"COCO-17 keypoints: {problem}" if problem else lifted
