"""Turn frames into scenes: who is there, and which regions a method must change.

``Perceiver`` runs a face detector and, for ``--target people``, a people stage (detected by
``PeopleAssembler`` or read from COCO annotations). Then it applies the user's choices:

* ``exclude_regions``: a person or face with at least half of its box inside an excluded
  region is left out of ``Scene.people``/``Scene.faces`` and recorded in ``Scene.skipped``
  (``Outcome.SKIPPED`` with the reason), so the audit says who was left alone and why;
* ``min_person_size``: people whose box is lower than this many pixels are skipped the same way;
* ``uncertain_threshold``: people scoring below it are kept but marked ``uncertain``, and the
  fail-closed guard fills them solid instead of replacing them.

``perceive_stream`` is the video entry point: it tracks people and faces and fills detector
gaps (see ``understudy.perception.tracking``), holding back ``max_gap`` frames to do so. For a
method that reads no pose it perceives keyframes in full and carries people along the optical
flow between them (``understudy.perception.keyframes``); photos and ``full`` always run
everything.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable, Iterator, Protocol

import numpy as np

from understudy.errors import UsageError
from understudy.perception.ahead import run_ahead
from understudy.perception.tracking import duplicate_host
from understudy.scene import TARGETS, Face, Frame, Outcome, Person, RegionResult, Scene

if TYPE_CHECKING:
    from understudy.perception.keyframes import KeyframeOptions

# A box counts as inside an excluded region when at least this share of its area is inside.
EXCLUDED_SHARE = 0.5
# MoveNet scored clearly visible walkers 0.22-0.37 on the street video of opencv-doc, where the
# SSDs scored them 0.6-0.95; at 0.25 a lone MoveNet find of 0.3 is sure (0.53 calibrated).
MOVENET_SURE = 0.25
# CenterFace's long side beside YuNet. On 10 real photos (512-2333 px), CenterFace at 800 plus
# YuNet at 1280 found 14 faces where CenterFace alone at 1280 found 11 (spectators 21-26 px
# high), in 0.8x its time.
CENTERFACE_SIDE = 800
# YuNet's default long side (issue 18). At 1280 a 12 MP crowd photo lost its faces under
# ~40 px (10 found where deface, at full resolution, found 16). YuNet finds faces from ~12 px
# at its input, so 3072 keeps a 16 px face in a 4000x3000 photo (tests/perception/
# test_centerface_int8.py) at 0.6x the cost of full resolution; photos up to 3072 px long
# are searched at full resolution.
FACE_MAX_SIDE = 3072


class FaceDetector(Protocol):
    def __call__(self, image: np.ndarray) -> list[Face]: ...


class PeopleDetector(Protocol):
    """Find people in an ``(H, W, 3) uint8`` RGB image: boxes and scores at least; masks
    (``(H, W) bool``) and keypoints when the model gives them, which are then kept.

    Plug a stronger model in (e.g. torchvision's Mask R-CNN with local weights) with
    ``build_perceiver(options, people_detector=lambda: MyDetector())``; the pose, mask and
    face stages fill in whatever it leaves out.
    """

    def __call__(self, image: np.ndarray) -> list[Person]: ...



class PeopleStage(Protocol):
    """Everything the perceiver needs for ``--target people``: the people of one frame, with
    the frame's faces assigned to them. ``cache_key`` names the models and settings."""

    cache_key: str

    def __call__(self, frame: Frame, faces: list[Face]) -> list[Person]: ...


@dataclass
class PerceptionOptions:
    target: str = "faces"
    annotations: str | None = None  # a COCO json used instead of detecting people
    image_root: str | None = None  # the folder COCO file names are relative to
    min_person_size: int = 0  # people smaller than this (box height, px) are skipped
    exclude_regions: tuple[tuple[float, float, float, float], ...] = ()  # x0,y0,x1,y1 boxes
    uncertain_threshold: float = 0.5  # detections scoring below this are masked out
    cache_dir: str | None = None  # on-disk cache of perception results, keyed by content hash
    max_gap: int = 5  # video: frames a tracked person or face may be missed and still covered
    # YuNet's small-face search runs at this long side at most (0: full size); CenterFace at
    # min(this, CENTERFACE_SIDE). FACE_MAX_SIDE by default since issue 18.
    face_max_side: int = FACE_MAX_SIDE
    # Run every people stage whatever the method reads (``MethodSpec.reads``): by default a
    # method that reads no pose (blur, pixelate, mask-out) gets no per-person MediaPipe pose.
    full: bool = False
    # Video, methods that read no pose, not ``full``: the whole people stage and faces run at
    # least every this many frames, people are carried along the optical flow between (1:
    # every frame). See ``understudy.perception.keyframes``.
    keyframe_interval: int = 12

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise UsageError(f"target {self.target!r} is not known; allowed: {', '.join(TARGETS)}")
        if self.min_person_size < 0:
            raise UsageError(f"--min-person-size must be >= 0 pixels, got {self.min_person_size}")
        if not 0 <= self.uncertain_threshold <= 1:
            raise UsageError("--uncertain-threshold must be in [0, 1], "
                             f"got {self.uncertain_threshold}")
        if self.face_max_side and self.face_max_side < 64:
            raise UsageError("--face-max-side must be 0 (full resolution) or >= 64 pixels, "
                             f"got {self.face_max_side}")
        if self.max_gap < 0:
            raise UsageError(f"max_gap must be >= 0 frames, got {self.max_gap}")
        if self.keyframe_interval < 1:
            raise UsageError(f"keyframe_interval must be >= 1 frame, got {self.keyframe_interval}")
        regions = []
        for region in self.exclude_regions:
            values = tuple(float(v) for v in region)
            if len(values) != 4 or not (values[2] > values[0] and values[3] > values[1]):
                raise UsageError(f"--exclude-region {region!r}: give x0,y0,x1,y1 with x1 > x0 "
                                 "and y1 > y0 (pixels)")
            regions.append(values)
        self.exclude_regions = tuple(regions)
        if self.annotations is not None and self.target != "people":
            raise UsageError("--annotations gives people, so it needs --target people "
                             f"(got --target {self.target})")


class Perceiver:
    """``perceiver.perceive(frame) -> Scene``; ``perceive_stream(frames)`` for videos.

    ``keyframes`` (with ``cheap``, a fast ``PeopleDetector`` run on every frame): videos are
    perceived in full on keyframes only (``understudy.perception.keyframes``); None: every
    frame. ``keyframe_counts`` holds the last stream's keyframes by reason.
    """

    def __init__(self, options: PerceptionOptions, faces: FaceDetector,
                 people: PeopleStage | None = None, cache=None,
                 keyframes: "KeyframeOptions | None" = None,
                 cheap: PeopleDetector | None = None):
        if options.target == "people" and people is None:
            raise UsageError("--target people needs a people detector, which is not available "
                             "in this build; use --target faces")
        if keyframes is not None and cheap is None:
            raise UsageError("keyframes need a cheap people detector to run on every frame")
        self.options = options
        self.faces = faces
        self.people = people
        self.cache = cache  # a PerceptionCache, or None
        self.keyframes = keyframes
        self.cheap = cheap
        self.keyframe_counts: dict[str, int] = {}

    def detect(self, frame: Frame) -> Scene:
        """Everyone found in the frame, before the user's exclusions and thresholds."""
        key = None
        if self.cache is not None:
            key = self.cache.key(frame, self._cache_context(frame))
            cached = self.cache.load(key, frame)
            if cached is not None:
                return cached
        faces = self.faces(frame.image)
        people = self.people(frame, faces) if self.people is not None and \
            self.options.target == "people" else []
        scene = Scene(frame, people=people, faces=faces, target=self.options.target)
        if key is not None:
            self.cache.store(key, scene)
        return scene

    def perceive(self, frame: Frame) -> Scene:
        return self.select(self.detect(frame))

    def perceive_stream(self, frames: Iterable[Frame]) -> Iterator[Scene]:
        from understudy.perception.tracking import Tracker, TrackingOptions

        tracker = Tracker(TrackingOptions(max_gap=self.options.max_gap,
                                          sure_score=self.options.uncertain_threshold))
        if self.keyframes is not None:
            from understudy.perception.keyframes import KeyframePerception

            reuse = KeyframePerception(self.detect, self.cheap, self.keyframes)
            self.keyframe_counts = reuse.counts
            stage = reuse.run
        else:
            stage = self._detect_each
        with self._no_closer_look():
            for scene in tracker.run(run_ahead(stage, self._with_motion(frames))):
                yield self.select(scene)

    def _with_motion(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Each frame with its moving pixels (``Frame.moving``), for a people detector that
        looks closer where something moves outside everyone it found."""
        detector = getattr(self.people, "detector", None)
        if self.options.target != "people" or not getattr(detector, "looks_at_motion", False):
            yield from frames
            return
        from understudy.perception.motion import MotionWatch

        watch = MotionWatch()
        for frame in frames:
            yield replace(frame, moving=watch(frame.image))

    def _no_closer_look(self) -> ContextManager[None]:
        """Video frames get no closer look at small people (``perception/zoom.py``) and no
        square tiles (``FusionOptions.tile_aspect``).

        The closer look's windows move with the people from frame to frame, and so do the
        boxes it splits and tightens; the tracker then linked weak halves of a couple into
        walkers' tracks. On vtest 650-679 it took RefSD from 276 replaced, 11 masked, 0
        alternations to 246, 17, 1. On a 16:9 crop of vtest 500-529 the tiles boxed a traffic
        cone, and the tracker carried it into a stand-in on 6 frames (2 more alternations).
        Photos keep both (docs/perception.md)."""
        first_pass_only = getattr(getattr(self.people, "detector", None), "first_pass_only", None)
        return first_pass_only() if first_pass_only is not None else nullcontext()

    def _detect_each(self, frames: Iterable[Frame]) -> Iterator[Scene]:
        for frame in frames:
            yield self.detect(frame)

    def select(self, scene: Scene) -> Scene:
        """Apply exclusions, the minimum size and the uncertain threshold to a scene."""
        o = self.options
        people, faces, skipped = [], [], list(scene.skipped)
        for p in scene.people:
            reason = self._skip_reason(p.box)
            height = float(p.box[3] - p.box[1])
            if reason is None and height < o.min_person_size:
                reason = (f"smaller than --min-person-size {o.min_person_size} px "
                          f"(box height {height:.0f} px)")
            if reason is not None:
                skipped.append(RegionResult("person", p.box, p.score, Outcome.SKIPPED, reason,
                                            p.track_id))
                continue
            # In video, the track's best frame speaks for its weak ones (perception/tracking.py).
            best = max(p.score, p.track_score if p.track_score is not None else p.score)
            p.uncertain = p.uncertain or best < o.uncertain_threshold
            people.append(p)
        people = merge_weak_duplicates(people)
        kept_people_faces = {id(f) for p in people for f in p.faces}
        # A skipped person's face goes with them: in people mode it must not come back as a
        # stray face region.
        skipped_faces = {id(f) for p in scene.people for f in p.faces} - kept_people_faces
        for f in scene.faces:
            reason = self._skip_reason(f.box)
            if reason is None and id(f) in skipped_faces and scene.target == "people":
                reason = "the face of a person left alone (see their row)"
            if reason is not None and id(f) not in kept_people_faces:
                skipped.append(RegionResult("face", f.box, f.score, Outcome.SKIPPED, reason,
                                            f.track_id))
                continue
            faces.append(f)
        return Scene(scene.frame, people=people, faces=faces, target=scene.target,
                     seed=scene.seed, skipped=skipped)

    def _skip_reason(self, box: np.ndarray) -> str | None:
        x0, y0, x1, y1 = [float(v) for v in box]
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        for region in self.options.exclude_regions:
            rx0, ry0, rx1, ry1 = region
            inter = max(0.0, min(x1, rx1) - max(x0, rx0)) * max(0.0, min(y1, ry1) - max(y0, ry0))
            if area > 0 and inter / area >= EXCLUDED_SHARE:
                return "inside --exclude-region " + ",".join(f"{v:g}" for v in region)
        return None

    def _cache_context(self, frame: Frame) -> str:
        people = self.people.cache_key if self.people is not None else "-"
        faces = getattr(self.faces, "model_path", type(self.faces).__name__)
        faces = f"{faces}@{self.options.face_max_side}"
        # Annotated people depend on which file the frame is, not only on its pixels.
        source = frame.source if self.options.annotations else ""
        return f"target={self.options.target}|faces={faces}|people={people}|source={source}"


def build_perceiver(options: PerceptionOptions,
                    face_detector: Callable[[], FaceDetector] | None = None,
                    people_detector: Callable[[], PeopleDetector] | None = None,
                    reads: Iterable[str] = ("boxes", "masks", "pose")) -> Perceiver:
    """The default perceiver for ``options``, with the models that ship offline.

    ``people_detector`` replaces the SSDLite box detector (MediaPipe still adds pose and
    masks); ``options.annotations`` replaces detection with the people of a COCO file
    (MediaPipe adds pose to them; their boxes, masks and ids stay the annotation's).
    ``reads`` is what the method reads of a person (``MethodSpec.reads``): without "pose",
    detected people get no MediaPipe pose (unless ``options.full``). Annotated people keep
    it: their few landmarks place the face and hands the annotation's mask may miss.

    Videos get keyframes (``options.keyframe_interval``) when the method reads no pose, people
    are detected (not annotated) and ``options.full`` is off; SSDLite (or ``people_detector``'s
    detector) is then the cheap detector run on every frame.
    """
    faces = face_detector() if face_detector is not None else default_face_detector(
        options.face_max_side)
    people = cheap = keyframes = None
    if options.target == "people":
        if options.annotations:
            from understudy.io.coco import CocoAnnotations
            from understudy.perception.coco import CocoPeople
            from understudy.perception.pose import MediaPipePose

            # Same pose model and settings as detected people: avatar methods need its 3D.
            people = CocoPeople(CocoAnnotations.load(options.annotations, options.image_root),
                                pose=MediaPipePose())
        else:
            pose_people = options.full or "pose" in set(reads)
            detector = people_detector() if people_detector else None
            if not pose_people and options.keyframe_interval > 1:
                from understudy.perception.keyframes import KeyframeOptions

                keyframes = KeyframeOptions(interval=options.keyframe_interval)
                if detector is None:
                    cheap = _ssdlite(options.cache_dir)
                    detector = default_people_detector(options.cache_dir, ssdlite=cheap)
                else:
                    cheap = detector
            people = default_people_stage(detector, options.cache_dir, pose_people=pose_people,
                                          sure_score=options.uncertain_threshold)
    cache = None
    if options.cache_dir:
        from understudy.perception.cache import PerceptionCache

        cache = PerceptionCache(Path(options.cache_dir))
    return Perceiver(options, faces, people, cache, keyframes=keyframes, cheap=cheap)


def default_face_detector(max_side: int = FACE_MAX_SIDE) -> FaceDetector:
    """CenterFace and YuNet, fused: YuNet searches at ``max_side`` (0: full resolution) for
    small faces; CenterFace (int8, see ``perception/centerface_model.py``), still several
    times slower per pixel, at most at ``CENTERFACE_SIDE`` for the large, profile and
    half-hidden faces."""
    from understudy.perception.centerface_model import INT8_THRESHOLD
    from understudy.perception.faces import CenterFaceDetector, FaceDetectorOptions
    from understudy.perception.yunet import FusedFaces, YuNetFaces, YuNetOptions

    centerface_side = min(max_side, CENTERFACE_SIDE) if max_side else CENTERFACE_SIDE
    # YuNet (OpenCV) in the caller's thread, CenterFace (onnxruntime) beside it.
    return FusedFaces([YuNetFaces(YuNetOptions(max_side=max_side)),
                       CenterFaceDetector(FaceDetectorOptions(
                           max_side=centerface_side, precision="int8", threshold=INT8_THRESHOLD))],
                      parallel=True)


def default_people_stage(detector: PeopleDetector | None = None,
                         cache_dir: str | None = None, pose_people: bool = True,
                         sure_score: float = 0.5) -> PeopleStage:
    """Fused boxes (or ``detector``'s), MediaPipe pose and masks, selfie segmentation, and
    the residual-person guard. ``pose_people=False``: no pose per detected person, masks
    from selfie segmentation on each person's crop (see ``AssemblyOptions.pose_people``).
    ``sure_score``: the perceiver's uncertain threshold; a video frame's weaker finds get a
    second look (``perception/second_look.py``)."""
    from understudy.perception.assemble import AssemblyOptions, PeopleAssembler
    from understudy.perception.pose import PosePool
    from understudy.perception.second_look import SecondLookOptions
    from understudy.perception.segmentation import SelfieSegmenter

    from understudy.perception.movenet import MoveNetOptions, MoveNetPeople

    if detector is None:
        detector = default_people_detector(cache_dir)
    # MoveNet on a person's crop at its training size (256): the keypoint fallback for people
    # MediaPipe misses, run only for them. The person is already found, so a low score (0.1)
    # is enough to take their keypoints.
    crop_keypoints = MoveNetPeople(MoveNetOptions(input_side=256, threshold=0.1)).keypoints_in
    return PeopleAssembler(detector, PosePool(), SelfieSegmenter(),
                           AssemblyOptions(pose_people=pose_people,
                                           second_look=SecondLookOptions(sure_score=sure_score)),
                           keypoints=crop_keypoints)


def default_people_detector(cache_dir: str | None = None,
                            ssdlite: PeopleDetector | None = None) -> PeopleDetector:
    """SSDLite (person-only), the COCO SSD-MobileNetV2 and MoveNet MultiPose, fused.

    The ``sure`` scores map each detector's raw score onto the perceiver's uncertain
    threshold (0.5); see ``understudy.perception.fusion`` and docs/perception.md. ``ssdlite``:
    an SSDLite already loaded (the keyframes' cheap detector shares it).
    """
    from understudy.perception.fusion import DetectorSpec, FusedPeople
    from understudy.perception.movenet import MoveNetPeople
    from understudy.perception.ssd_coco import CocoSSDOptions, CocoSSDPeople
    from understudy.perception.motion import MotionLookOptions
    from understudy.perception.zoom import ZoomOptions

    models = _models_dir(cache_dir)
    # Only the COCO SSD looks at an elongated photo's square tiles (FusionOptions.tile_aspect):
    # of the 7 people the tiles alone found (obama3 and 40 16:9 street crops), it found 4
    # (obama3's neighbour and three people cut by the edge), MoveNet 2 (one man behind a
    # sign, twice) and SSDLite 1, for 28 ms a tile against 75 ms for the three side by side.
    return FusedPeople([
        DetectorSpec("ssdlite", ssdlite or _ssdlite(cache_dir), sure=0.5, on_tiles=False),
        DetectorSpec("coco-ssd", CocoSSDPeople(CocoSSDOptions(cache_dir=models)), sure=0.5),
        DetectorSpec("movenet", MoveNetPeople(), sure=MOVENET_SURE, on_tiles=False),
    ], parallel=True, zoom=ZoomOptions(), motion=MotionLookOptions())


def _ssdlite(cache_dir: str | None = None) -> PeopleDetector:
    """The person-only SSDLite, its converted graph kept under ``cache_dir``/models."""
    from understudy.perception.people import SSDLiteOptions, SSDLitePeople

    return SSDLitePeople(SSDLiteOptions(cache_dir=_models_dir(cache_dir)))


def _models_dir(cache_dir: str | None) -> str | None:
    """Where generated model files go under ``--cache-dir``; None: the default model cache."""
    return str(Path(cache_dir) / "models") if cache_dir else None


def merge_weak_duplicates(people: list[Person]) -> list[Person]:
    """Fold each uncertain person that is a second find of a sure one (``duplicate_host``)
    into that person (mask, box and faces): nothing is uncovered, and the sure person's
    stand-in covers the pixels instead of the fail-closed fill."""
    from understudy.regions import box_mask, mask_bbox, union_box

    sure = [p for p in people if not p.uncertain]
    kept = []
    for p in people:
        host = duplicate_host(p, sure) if p.uncertain else None
        if host is None:
            kept.append(p)
            continue
        extent = p.box  # without a mask the host's region is its box: the weak box joins it
        if host.mask is not None:
            own = p.mask if p.mask is not None else box_mask(p.box, host.mask.shape)
            host.mask = host.mask | own
            extent = mask_bbox(own)
        if extent is not None:
            host.box = union_box(host.box, extent)
        host.faces.extend(p.faces)
    return kept
