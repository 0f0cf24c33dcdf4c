"""The data model every stage speaks: Frame → Scene(people, faces) → Result.

Plain dataclasses over numpy arrays so that stages stay decoupled and testable.
Conventions, once for all modules:

* images are ``(H, W, 3) uint8`` RGB;
* boxes are ``(4,) float32`` ``x0, y0, x1, y1`` in pixels, ``x1``/``y1`` exclusive;
* masks are ``(H, W) bool`` at the frame's size;
* 2D keypoints are ``(K, 3) float32`` rows of ``x, y, visibility`` (visibility in [0, 1]);
* 3D keypoints are ``(K, 4) float32`` rows of ``x, y, z, visibility`` in metres, MediaPipe's
  world frame (origin at the hip midpoint, x to image right, y down, z towards the camera
  negative);
* keypoint layouts are named by ``Person.keypoint_format`` ("mediapipe33" or "coco17").
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Target = Literal["faces", "people"]
# The "mediapipe33" landmark index of each "coco17" keypoint (nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles; each pair left then right).
MEDIAPIPE_OF_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# In people mode, a face that no person owns gets its own region unless this share of its
# head ellipse already lies in some person's region.
STRAY_FACE_COVERED = 0.9
TARGETS: tuple[str, ...] = ("faces", "people")


@dataclass
class Frame:
    """One image to anonymize: the pixels and where they came from (metadata already gone)."""

    image: np.ndarray
    source: str = ""
    index: int = 0
    # Video only: pixels that moved against the last frames (``perception/motion.py``), where
    # the people detector looks closer outside everyone it found. None: a photo, or no
    # background yet.
    moving: np.ndarray | None = None

    def __post_init__(self) -> None:
        img = self.image
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"Frame.image must be (H, W, 3) uint8, got {img.shape} {img.dtype}")

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.image.shape[0], self.image.shape[1]


@dataclass
class Face:
    """A detected face; ``landmarks`` are CenterFace's 5 points (eyes, nose, mouth corners)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None  # (5, 2) float32
    track_id: int | None = None
    interpolated: bool = False  # filled in from a track, not seen by the detector on this frame


@dataclass
class Person:
    """A detected (or annotated) person and everything perception knows about them."""

    box: np.ndarray
    score: float
    mask: np.ndarray | None = None
    keypoints2d: np.ndarray | None = None
    keypoints3d: np.ndarray | None = None
    keypoint_format: str = "mediapipe33"
    faces: list[Face] = field(default_factory=list)
    track_id: int | None = None
    uncertain: bool = False  # below the confidence threshold: always masked out, never replaced
    interpolated: bool = False
    annotation_id: int | None = None  # the COCO annotation this person came from, if any
    attributes: dict[str, str] = field(default_factory=dict)  # requested stand-in attributes
    # Where perception found them: "detector" (a people detector), "face" (seeded from a face
    # with no person around it), "residual" (person pixels outside everyone handled),
    # "annotation" (a COCO file). The audit carries it, so a reader sees how someone was found.
    source: str = "detector"
    # COCO-17 keypoints (x, y, score) from a multi-person model (MoveNet), kept beside
    # MediaPipe's 33 landmarks: the pose fallback when MediaPipe finds none for this person.
    keypoints_coco17: np.ndarray | None = None
    # Video: the best detector score along this person's track (a weak frame of a sure track
    # is the same sure person), and whether the pose was borrowed from neighbouring frames.
    track_score: float | None = None
    pose_from_track: bool = False


@dataclass
class Region:
    """One thing a method must anonymize: a face or a person, with the pixels it covers."""

    kind: Literal["face", "person"]
    box: np.ndarray
    mask: np.ndarray
    score: float
    person: Person | None = None
    face: Face | None = None
    uncertain: bool = False

    @property
    def track_id(self) -> int | None:
        item = self.person if self.person is not None else self.face
        return item.track_id if item is not None else None


@dataclass
class Scene:
    """A frame with everyone perception found in it, and which of them a method should change."""

    frame: Frame
    people: list[Person] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)  # every face, assigned to a person or not
    target: Target = "faces"
    seed: int = 0
    # People and faces perception left alone on purpose (excluded region, too small), with
    # why: ``Outcome.SKIPPED`` records for the audit, not regions for the method.
    skipped: list[RegionResult] = field(default_factory=list)
    _regions: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def image(self) -> np.ndarray:
        return self.frame.image

    def regions(self) -> list[Region]:
        """The regions to anonymize for this scene's target, in a stable order.

        Computed once per scene (the guard, the method and the audit all ask) and shared, so
        the masks are read-only: a method that wants to grow one works on a copy."""
        key = (self.target, len(self.faces), len(self.people))
        if self._regions is None or self._regions[0] != key:
            self._regions = (key, self._build_regions())
        return list(self._regions[1])

    def _build_regions(self) -> list[Region]:
        from understudy.regions import face_region_mask, person_region_mask

        h, w = self.frame.size
        if self.target == "faces":
            regions = [Region("face", f.box, face_region_mask(f.box, (h, w)), f.score, face=f)
                       for f in self.faces]
        else:
            regions = [Region("person", p.box, person_region_mask(p, (h, w)), p.score, person=p,
                              uncertain=p.uncertain) for p in self.people]
            _distrust_group_boxes(regions)
            _fold_unvouched_into_hosts(regions)
            _uncertain_outside_sure(regions)
            regions += self._stray_face_regions(regions, (h, w))
        for region in regions:
            region.mask.setflags(write=False)
        return regions

    def _stray_face_regions(self, people: list[Region], size: tuple[int, int]) -> list[Region]:
        """Face regions for faces no person region covers (a crowd, a poster, a face behind
        glass): in people mode they are anonymized as faces, after the people.

        A stray face keeps only the pixels outside every person's region, as an uncertain
        person does outside sure ones (``_uncertain_outside_sure``): those pixels are replaced
        or filled with their person. Blurred again, they were a stand-in blurred away: a false
        face on the grass beside a walker on vtest 697-701 (165 px high, its region twice
        that) hid her stand-in under its blur for five frames."""
        from understudy.regions import face_region_mask

        owned = {id(f) for p in self.people for f in p.faces}
        covered = np.zeros(size, bool)
        for region in people:
            covered |= region.mask
        out = []
        for f in self.faces:
            if id(f) in owned:
                continue
            mask = face_region_mask(f.box, size)
            # A face already mostly inside a person's region changes with that person.
            if mask.any() and (mask & covered).sum() >= STRAY_FACE_COVERED * mask.sum():
                continue
            out.append(Region("face", f.box, mask & ~covered, f.score, face=f))
        return out

    def rng_for(self, region_index: int, region: Region | None = None) -> np.random.Generator:
        """A generator for one region: seeded by the run seed and the track, so that the same
        person keeps the same stand-in across the frames of a video."""
        track = region.track_id if region is not None else None
        key = ("t", track) if track is not None else ("i", self.frame.source, self.frame.index,
                                                       region_index)
        return self._rng(key)

    def rng_for_scene(self) -> np.random.Generator:
        """A generator for a method that changes the whole image at once (scene mode): seeded
        by the run seed alone, so its noise stays the same from frame to frame of a video.

        The one rule for randomness in methods: per region ``rng_for``, per whole image this;
        a method never seeds a generator of its own."""
        return self._rng(("scene",))

    def _rng(self, key: tuple) -> np.random.Generator:
        digest = hashlib.sha256(repr(key).encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])


# Why a region has nothing to change: off the image, or an uncertain person wholly inside
# sure people's regions (see _uncertain_outside_sure).
EMPTY_REGION = "no pixels to change: outside the image or inside a replaced person's region"


# A box wider than tall that holds this many other people (each this much inside it) is a
# group, not a person: MoveNet joined the keypoints of walkers side by side (vtest frame 300:
# 273x114 px over four walkers, score 0.67, 2 % of it segmented; its stand-in fitted nothing).
GROUP_PEOPLE, GROUP_INSIDE = 2, 0.7
GROUP_NEAR = 0.25  # x the group box's height: its pixels this close to someone are theirs
BOX_LIKE_FILL = 0.9  # a group's mask this full of its box is a box, not a segmentation


def is_group_box(box, others) -> bool:
    """Whether ``box`` is wider than tall and holds ``GROUP_PEOPLE`` of the ``others`` boxes,
    each at least ``GROUP_INSIDE`` inside it: a box over a group, not a person."""
    from understudy.regions import inside_share

    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 - x0 <= y1 - y0:
        return False
    return sum(inside_share(other, box) >= GROUP_INSIDE for other in others) >= GROUP_PEOPLE


def _distrust_group_boxes(regions: list[Region]) -> None:
    """A group box is filled solid where no one else's region is (fail closed, uncertain),
    never replaced by a stand-in fitted to several people's keypoints, and never a host. Its
    region is what was segmented for it and its faces, less what lies within a quarter of its
    height of anyone else's region: its keypoints' head, hand and foot discs and the pose
    mask of its crop are the other people's (they painted black over their stand-ins). A
    box with no segmentation of its own (no mask, or the box itself) keeps only its faces:
    mask-out drew a 273x174 px black bar over empty pavement for one (vtest frame 300)."""
    from understudy.regions import dilate, face_region_mask

    for region in regions:
        if region.person is not None and is_group_box(
                region.box, [o.box for o in regions if o is not region and o.kind == "person"]):
            height = float(region.box[3] - region.box[1])
            region.uncertain = True
            person = region.person
            segmented = person.mask is not None and not _box_like(person.mask, region.box)
            mask = person.mask.astype(bool, copy=True) if segmented \
                else np.zeros_like(region.mask)
            for face in person.faces:
                mask |= face_region_mask(face.box, mask.shape)
            others = np.logical_or.reduce([o.mask for o in regions if o is not region
                                           and o.kind == "person"])
            near = dilate(others, max(1, int(GROUP_NEAR * height)))
            region.mask = mask & ~near


def _box_like(mask: np.ndarray, box) -> bool:
    """A mask that is its box: a stand-in where the segmenter found next to nothing (the
    pose-free people stage's fallback), not a segmentation."""
    from understudy.regions import box_fill

    fill = box_fill(mask, box)
    return fill is not None and fill >= BOX_LIKE_FILL


# A person without a trustworthy mask whose box lies at least this much inside a surer
# person's box is that person found twice (vtest frame 600: a second box over a walker and
# his stride, 55 % inside, fill 3 %) or someone only their box can cover beside them.
FOLD_INSIDE = 0.5


def _fold_unvouched_into_hosts(regions: list[Region]) -> None:
    """The region of a person whose mask cannot hold them (no mask, or ``unvouched_mask``)
    joins the surer person whose box holds most of theirs: the host's region takes their
    pixels and theirs is emptied. One stand-in is drawn over the pixels of both instead of a
    second stand-in fitted to a box, or a black box painted over the host's stand-in; the
    host's own mask, which its fit follows, is left as it was.

    Photos only: in a video the fold changes from frame to frame as people cross, and a
    tracked walker folded into his neighbour on some frames loses his own stand-in on those
    (vtest 200-259: 8 -> 42 alternations); tracking already carries each person's region."""
    from understudy.regions import inside_share, union_box, unvouched_mask

    if any(r.track_id is not None for r in regions):
        return

    def trusted(r: Region) -> bool:
        p = r.person
        return p is not None and p.mask is not None and p.mask.any() and not unvouched_mask(p)

    hosts = [r for r in regions if not r.uncertain and trusted(r)]
    for region in regions:
        if trusted(region) or region.person is None or not region.mask.any():
            continue
        candidates = [h for h in hosts if h.score >= region.score]
        host = max(candidates, key=lambda h: inside_share(region.box, h.box), default=None)
        if host is None or inside_share(region.box, host.box) < FOLD_INSIDE:
            continue
        host.mask = host.mask | region.mask
        host.box = union_box(host.box, region.box)
        region.mask = np.zeros_like(region.mask)


def _uncertain_outside_sure(regions: list[Region]) -> None:
    """An uncertain person is filled solid, so their region keeps only the pixels outside
    every sure person's region: a weak duplicate box over a replaced person (or a wide box
    over a group) would otherwise paint black over their stand-ins. What it gives up is
    covered anyway: a sure region is replaced whole, or filled solid if its method fails."""
    sure = [r.mask for r in regions if not r.uncertain]
    if not sure or not any(r.uncertain for r in regions):
        return
    covered = np.logical_or.reduce(sure)
    for region in regions:
        if region.uncertain:
            region.mask = region.mask & ~covered


class Outcome(str, enum.Enum):
    """What happened to one region. ``MASKED`` is the fail-closed result."""

    REPLACED = "replaced"  # the method changed it as designed
    MASKED = "masked"  # filled solid because the method failed or the detection was uncertain
    SKIPPED = "skipped"  # deliberately left (excluded region, below the minimum size)
    FAILED = "failed"  # a method's report that it could not process the region; never final


@dataclass
class RegionResult:
    """The audit record of one region."""

    kind: str
    box: np.ndarray
    score: float
    outcome: Outcome
    reason: str = ""
    track_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # how perception found this person, when not by the detector (Person.source)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "outcome": self.outcome.value,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        if self.attributes:
            out["attributes"] = self.attributes
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Result:
    """A method's output: the anonymized image and one record per region, in ``regions()`` order."""

    image: np.ndarray
    regions: list[RegionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # run-level remarks, e.g. "render mode: no SD weights"
    # What the method changes on purpose: "regions" (the regions and a documented margin) or
    # "scene" (the whole image is regenerated, as CAMOUFLaGE's scene mode does): the audit
    # carries it, so the evaluation reports background change as intended, not collateral.
    scope: str = "regions"
