"""Combine boxes, faces, pose and segmentation into whole people, each owning their pixels.

Every detector measured here misses people badly cut by the image edge, so a face that no
person claims seeds a person crop of its own. Each person's mask is pose's mask on their crop
widened by selfie segmentation inside their box; overlaps are settled pixel by pixel (the
person with the strongest evidence wins), so each mask pixel belongs to exactly one person.
Last, the residual-person guard (``understudy.perception.residual``) turns person pixels that
nobody covers into people of their own (``source="residual"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from understudy.errors import UsageError
from understudy.perception.pose import (CORE_LANDMARKS, HEAD_LANDMARKS, MIN_LANDMARK_SPAN,
                                        PoseEstimate, centred_in, landmark_span)
from understudy.perception.posture import (MIN_UPRIGHT, coco_order, doubtful_landmarks,
                                           head_above_hips, same_skeleton, upside_down)
from understudy.perception.residual import ResidualOptions, find_leftovers
from understudy.perception.second_look import SecondLookOptions, nobody_there, sure_pixels
from understudy.regions import (box_iou, box_mask, clip_box, dilate, head_box, int_box,
                                mask_bbox, points_box, union_box)
from understudy.scene import Face, Frame, Person, is_group_box

# Bump when the assembler's rules change what it finds, so perceptions cached by an older
# version (``--cache-dir``) are not reused. 2: MoveNet's keypoints for landmarks spanning too
# little of a person's box (``_second_opinion``). 3: two skeletons that agree make a weak find
# sure (``_promote_agreeing``). 4: a box over a group is no one (``_group_boxes``). 5: MoveNet's
# keypoints for doubtful postures as well (``_second_opinion``). 6: two boxes with one skeleton
# are posed again with its owner hidden (``_separate_twins``); a face seed's pose upside down is
# no body; a weak find's keypoints give MediaPipe its crop (``_pose_on_keypoints``). 7: a face
# taller than a person's box is not theirs (``MAX_FACE_SHARE``). 8: a video frame's weak find
# that three witnesses call nobody is dropped (``_second_look``).
RULES_VERSION = 8
# Selfie segmentation counts a little less than a person's own pose mask when two people
# claim a pixel, and less towards the edge of a box (where neighbours stand).
SELFIE_WEIGHT = 0.9
SELFIE_EDGE_FALLOFF = 0.3
# A face is a person's when it lies this close (in face-box diagonals) to their head landmarks.
MAX_HEAD_DISTANCE = 1.0
# A face whose centre lies in this top share of a person's box is theirs even when their
# landmarks put the head elsewhere (small people's landmarks are coarse).
HEAD_ZONE = 0.3
# A face taller than this share of a person's box is not theirs. The labelled set's faces
# are 0.1-0.39 of their person's height, and 0.76 for a defocused half face at the edge of a
# person cut by the frame. On vtest 699 CenterFace scored a patch of grass 165 px high
# beside a walker 115 px tall as a face (0.124): joined to her region, it made her region
# mostly grass, which her stand-in and the inpainting did not change enough for the guard,
# and she was filled black with it on two frames.
MAX_FACE_SHARE = 1.0
# A seed crop around a face: widths either side, heights above and below (a standing body is
# about 7-8 face heights tall).
SEED_SIDE, SEED_UP, SEED_DOWN = 2.5, 1.0, 7.0
# A face seed whose body's torso landmarks are seen this well is as sure as its pose.
SEED_POSE_SCORE = 0.5
# MediaPipe's landmarks and MoveNet's keypoints are one skeleton when this many joints seen
# by both (MoveNet's above this score) lie within this share of the box's height (median).
# Sure people on the street frames and photos measured: 0.01-0.11 (two at 0.18 and 0.30, a
# pose on a neighbour); the two weak finds it lifts at vtest frame 160: 0.063 and 0.075.
AGREE_MIN_JOINTS, AGREE_KEYPOINT_SCORE, AGREE_SHARE = 10, 0.1, 0.1
# COCO-17 keypoints of the head (nose, eyes, ears), for faces of people MediaPipe missed.
COCO17_HEAD = (0, 1, 2, 3, 4)
# A residual person without a pose whose torso is visible to this degree is kept uncertain.
RESIDUAL_SCORE = 0.3
# A pose whose torso landmarks are seen this well is a body, where a pose is the only
# evidence that someone is there (``_pose_is_body``).
POSE_BODY_SCORE = 0.5
# A residual blob's pose counts only if the pose's own mask covers this share of the blob:
# MediaPipe posed a lamp post and a road sign on the street video (its mask there was thin).
RESIDUAL_POSE_SHARE = 0.4
# Two boxes with one skeleton (``_separate_twins``): the owner's pose mask, grown by this share
# of their height, is hidden before the other box is posed again; the pose found then must
# span this share of the other box (a body, not the feet or a smear left by the hiding: 0.07-
# 0.28 on vtest frames where the second box was one person's twin; 0.30-0.76 for a second
# person) and have this share of its mask on pixels that were not hidden (0.15-0.68; 0.55-0.94).
TWIN_HIDE_GROWTH, TWIN_MIN_SPAN, TWIN_MIN_UNHIDDEN = 0.03, 0.25, 0.5
# A weak detection is a residual blob's witness when their boxes overlap this much.
RESIDUAL_WITNESS_IOU = 0.3
# Without pose (a method that reads none): each person's crop, their box grown by this share
# on every side (as the pose crop is), is segmented on its own, padded to a square so a
# walker is not stretched into the model's 256x256 input.
CROP_MARGIN = 0.15
# A crop's segmentation claims a pixel above this probability (the pose mask: above
# ``mask_threshold``, 0.5).
SEGMENT_THRESHOLD = 0.5
# A pose-free mask grows by this share of the person's height into pixels nobody owns. The
# pose mask and the limbs drawn from its landmarks reach further at the feet and hands: on 10
# street frames and the 13 labelled photos, the pose-free masks left 5.3 % of the pose run's
# filled pixels unfilled; grown by 3 %, 1.6 %; by 5 %, 0.2 % (worst person 4 %, a footballer's
# boot), for 12 % more pixels filled. MoveNet keypoints on each crop changed nothing then.
SEGMENT_GROWTH = 0.05
# A pose-free mask filling less of its person's box than this is not trusted: the box is used
# (fail closed). Without landmarks nothing draws the limbs such a thin mask misses: on the
# street clip a walker cut by the frame edge had a mask of 1 % of their box and was left
# visible, where the pose run's landmarks covered them. Median fill of a walker: 0.46.
MIN_SEGMENT_FILL = 0.2


class PoseEstimator(Protocol):
    def __call__(self, image: np.ndarray, box: np.ndarray) -> PoseEstimate | None: ...


class Segmenter(Protocol):
    def __call__(self, image: np.ndarray) -> np.ndarray: ...


class CropKeypoints(Protocol):
    """COCO-17 keypoints ``(17, 3)`` of the person in a box, or None (MoveNet on the crop)."""

    def __call__(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None: ...


@dataclass
class AssemblyOptions:
    mask_threshold: float = 0.5  # person probability above which a pixel is theirs
    seed_from_faces: bool = True  # faces no person claims seed a person crop
    duplicate_iou: float = 0.5  # a seeded person this close to a found one is the same person
    residual: ResidualOptions | None = field(default_factory=ResidualOptions)  # None: off
    # Detections scoring below this with no pose, face, keypoints or mask are dropped.
    min_lone_score: float = 0.35
    # MediaPipe pose on every detected person (landmarks, and the pose crop's mask). False
    # when the method reads no pose: each mask then comes from selfie segmentation on the
    # person's own crop, and pose still runs where it is the evidence that someone is there
    # (a weak lone detection, a face seed, a residual blob), so nobody covered before is lost.
    pose_people: bool = True
    # A video frame's weak finds that motion, segmentation and a second look at a window all
    # call nobody are dropped (``perception/second_look.py``). None: every weak find stays.
    second_look: SecondLookOptions | None = field(default_factory=SecondLookOptions)

    def __post_init__(self) -> None:
        if not 0 < self.mask_threshold < 1:
            raise UsageError(f"mask_threshold must be in (0, 1), got {self.mask_threshold}")
        if not 0 < self.duplicate_iou <= 1:
            raise UsageError(f"duplicate_iou must be in (0, 1], got {self.duplicate_iou}")


@dataclass
class _Candidate:
    person: Person
    pose: PoseEstimate | None = None
    # Without pose: person probability over a crop, (x0, y0, x1, y1) and (y1-y0, x1-x0).
    segment: tuple[tuple[int, int, int, int], np.ndarray] | None = None
    seeded: bool = False
    evidence: list[str] = field(default_factory=list)
    # The crop its MoveNet keypoints span, where it was posed (``_pose_on_keypoints``).
    keypoint_crop: np.ndarray | None = None


class PeopleAssembler:
    """``assembler(frame, faces) -> list[Person]``: people with masks, keypoints and faces.

    ``detector`` finds boxes (any ``PeopleDetector``: it may also give masks and keypoints,
    which are then kept); ``pose`` and ``segmenter`` fill in what it does not give;
    ``keypoints`` (MoveNet on the person's crop) gives COCO-17 keypoints to people who have
    none yet and whom MediaPipe finds no landmarks for, or whose landmarks span too little of
    their box to be their body, so a stand-in can still follow their pose.
    """

    def __init__(self, detector: Callable[[np.ndarray], list[Person]],
                 pose: PoseEstimator | None, segmenter: Segmenter | None,
                 options: AssemblyOptions | None = None,
                 keypoints: CropKeypoints | None = None):
        self.detector = detector
        self.pose = pose
        self.segmenter = segmenter
        self.options = options or AssemblyOptions()
        self.keypoints = keypoints

    @property
    def cache_key(self) -> str:
        crop_model = getattr(self.keypoints, "__self__", self.keypoints)
        parts = [getattr(m, "model_id", type(m).__name__) if m is not None else "-"
                 for m in (self.detector, self.pose, self.segmenter, crop_model)]
        return "|".join(parts) + f"|{self.options}|rules{RULES_VERSION}"

    def __call__(self, frame: Frame, faces: Sequence[Face] = ()) -> list[Person]:
        image = frame.image
        size = image.shape[:2]
        cands = [_Candidate(p) for p in self._detect(frame)]
        self._add_poses(image, [c for c in cands
                                if self.options.pose_people or self._weak_alone(c)])
        self._separate_twins(image, cands)
        self._pose_on_keypoints(image, cands)
        folded = {id(c) for c in self._promote_agreeing(cands)}
        groups = {id(c) for c in self._group_boxes(cands)}
        cands = [c for c in cands if id(c) not in groups | folded]
        for c in cands:
            if not self.options.pose_people and c.pose is None:
                self._add_segment(image, c)
        # One whole-frame segmentation serves the masks and the residual guard.
        selfie = self.segmenter(image) if self.segmenter is not None else None
        unclaimed = assign_faces([c.person for c in cands], faces)
        if self.options.seed_from_faces:
            crops = [self._seed_crop(face, size) for face in unclaimed]
            for face, crop, est in zip(unclaimed, crops, self._poses(image, crops)):
                seed = self._seed(image, face, crop, est)
                twin = _twin(seed, cands, self.options.duplicate_iou)
                if twin is not None:
                    if _face_fits(face, twin.person):  # the same person, found twice
                        twin.person.faces.append(face)
                elif seed.pose is not None or seed.person.keypoints_coco17 is not None:
                    cands.append(seed)
                # else no body was found around the face: it stays a face (people mode still
                # anonymizes it as a face region), not a head-sized person masked black, which
                # on video blinked on and off beside the stand-ins (issue 20).
        weak = [c.person for c in cands if self._unsupported(c)]
        cands = [c for c in cands if not self._unsupported(c)]
        if cands:
            self._resolve_masks(image, cands, selfie)
        if selfie is not None and self.options.residual is not None:
            cands += self._residuals(image, cands, selfie, weak)
        # Last: a residual rim joining a person grows their box, and with it what their
        # landmarks must span.
        self._second_opinion(image, cands)
        return [c.person for c in self._second_look(frame, cands, selfie)]

    def _detect(self, frame: Frame) -> list[Person]:
        """The detector's people; a video frame's moving pixels go to a detector that looks
        closer at them (``perception/motion.py``)."""
        if frame.moving is not None and getattr(self.detector, "looks_at_motion", False):
            return self.detector(frame.image, moving=frame.moving)
        return self.detector(frame.image)

    def _second_look(self, frame: Frame, cands: list[_Candidate], selfie: np.ndarray | None
                     ) -> list[_Candidate]:
        """Without the video frame's weak finds that three witnesses call nobody
        (``perception/second_look.py``). A photo (no motion), a frame before the watch has
        a background, no segmenter or a detector that cannot look at a window: every weak
        find stays, and is masked."""
        o = self.options.second_look
        look = getattr(self.detector, "look_at", None)
        if o is None or frame.moving is None or selfie is None or look is None:
            return cands
        weak = [c for c in cands
                if c.person.source == "detector" and c.person.score < o.sure_score]
        if not weak:
            return cands
        sure = [c.person for c in cands
                if not c.person.uncertain and c.person.score >= o.sure_score]
        theirs = sure_pixels(sure, frame.size, o.margin)
        person_pixels = selfie > self.options.mask_threshold
        nobody = {id(c) for c in weak if nobody_there(frame.image, c.person, sure, theirs,
                                                      frame.moving, person_pixels, look, o)}
        return [c for c in cands if id(c) not in nobody]

    def _unsupported(self, cand: _Candidate) -> bool:
        """A weak lone box with nothing else for it: no pose, no face, no keypoints.

        One detector's low score alone (the COCO SSD gave 0.2-0.33 to textures in a stadium
        crowd) would become a solid black box; with any other evidence it stays, uncertain."""
        return self._weak_alone(cand) and cand.pose is None and not cand.person.faces

    def _weak_alone(self, cand: _Candidate) -> bool:
        """A low score with no mask or keypoints: only a pose can vouch for this box."""
        p = cand.person
        return (p.score < self.options.min_lone_score and p.mask is None
                and p.keypoints_coco17 is None)

    def _residuals(self, image: np.ndarray, cands: list[_Candidate], selfie: np.ndarray,
                   weak: list[Person]) -> list[_Candidate]:
        """People made of person pixels nobody covers; rims of a handled person join them.

        Segmentation alone is not evidence: selfie segmentation called a coffee cup, a cat,
        a retina scan and galaxies "person" at 0.8-0.98 mean probability. A blob counts only
        with a second witness: a MediaPipe pose on it (then it gets a stand-in), or a weak
        detection the detectors gave there (then it is masked out, fail closed)."""
        size = image.shape[:2]
        handled = [c.person.mask if c.person.mask is not None
                   else box_mask(c.person.box, size) for c in cands]
        found = []
        leftovers = find_leftovers(selfie, handled, self.options.residual)
        blobs = [_Candidate(Person(box=left.box, score=RESIDUAL_SCORE, mask=left.mask,
                                   uncertain=True, source="residual"))
                 for left in leftovers if left.owner is None]
        self._add_poses(image, blobs)
        posed = iter(blobs)
        for left in leftovers:
            if left.owner is not None:
                owner = cands[left.owner].person
                if owner.mask is not None:
                    owner.mask = owner.mask | left.mask
                    owner.box = clip_box(union_box(owner.box, left.box), size)
                continue
            cand = next(posed)
            person = cand.person
            # The pose crop is wider than the blob and may hold a neighbour: keep it only if
            # its body sits on the blob.
            if cand.pose is not None and not _pose_is_body(
                    cand.pose, left.box, left.mask, RESIDUAL_POSE_SHARE,
                    self.options.mask_threshold):
                cand.pose = None
                person.keypoints2d = person.keypoints3d = None
            if cand.pose is None:
                witness = max(weak, key=lambda w: box_iou(w.box, left.box), default=None)
                if witness is None or box_iou(witness.box, left.box) < RESIDUAL_WITNESS_IOU:
                    continue  # nothing but segmentation says someone is there
                if person.keypoints_coco17 is None:
                    person.keypoints_coco17 = witness.keypoints_coco17
            else:
                # A body MediaPipe can pose gets a stand-in; its own mask widens the blob
                # where nobody else owns the pixels.
                x0, y0, x1, y1 = cand.pose.crop
                extra = np.zeros(size, bool)
                extra[y0:y1, x0:x1] = cand.pose.mask > self.options.mask_threshold
                for other in handled:
                    extra &= ~other
                person.mask = left.mask | extra
                person.box = clip_box(np.array(mask_bbox(person.mask), np.float32), size)
                person.score, person.uncertain = cand.pose.score, False
            found.append(cand)
        return found

    def _poses(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[PoseEstimate | None]:
        """The pose in each box, side by side when the estimator can (``PosePool.many``)."""
        if self.pose is None:
            return [None] * len(boxes)
        many = getattr(self.pose, "many", None)
        return many(image, boxes) if many is not None else [self.pose(image, b) for b in boxes]

    def _add_poses(self, image: np.ndarray, cands: list[_Candidate]) -> None:
        """A pose for each of ``cands`` that has no landmarks and mask of its own yet."""
        need = [c for c in cands
                if not (c.person.keypoints2d is not None and c.person.mask is not None)]
        if self.pose is None or not need:
            return
        for cand, est in zip(need, self._poses(image, [c.person.box for c in need])):
            self._take_pose(image, cand, est)

    def _take_pose(self, image: np.ndarray, cand: _Candidate, est: PoseEstimate | None) -> None:
        person = cand.person
        if est is not None and self._weak_alone(cand) and not _vouches(
                est, person.box, image.shape[:2], self.options.mask_threshold):
            est = None  # a pose on a traffic cone vouches for nobody
        if est is None:
            if self.keypoints is not None and person.keypoints_coco17 is None:
                person.keypoints_coco17 = self.keypoints(image, person.box)
            return
        cand.pose = est
        if person.keypoints2d is None:
            person.keypoints2d, person.keypoints3d = est.keypoints2d, est.keypoints3d
            person.keypoint_format = "mediapipe33"

    def _separate_twins(self, image: np.ndarray, cands: list[_Candidate]) -> None:
        """Two boxes whose crops gave one skeleton: the person it fits keeps it, and the other
        box is posed again with that person hidden, so someone standing behind gets a pose of
        their own.

        MediaPipe poses the most prominent body in a crop. Where two people overlap, both
        boxes' crops can give the one in front: a woman half behind a walker (vtest frame
        570), a man behind another at the road sign (frame 170). Each box then got a stand-in
        of the front person, one over the other, and nothing followed the person behind. The
        new pose counts only where it is another body: centred in the box, spanning it, its
        head and torso on pixels that were not hidden, and no sure person's skeleton (a weak
        find of the person behind, folded into this box later, does not count: at frame 760
        the woman's own box was too weak to be kept). Else (mostly one person boxed twice,
        where nothing is left once they are hidden) the box keeps the shared skeleton."""
        if self.pose is None:
            return
        posed = [c for c in cands if c.pose is not None]
        for i, first in enumerate(posed):
            for second in posed[i + 1:]:
                if not _one_skeleton(first, second):
                    continue
                owner, other = _owner_first(first, second)
                hidden, hide = self._hide(image, owner)
                est = self.pose(hidden, other.person.box)
                if est is None or not _another_body(est, other.person.box, hide):
                    continue
                if any(_agree(coco_order(est.keypoints2d), coco_order(c.pose.keypoints2d),
                              c.person.box, 0.5)
                       for c in posed if c is not other and c.person.score >= SEED_POSE_SCORE):
                    continue  # a sure third person's twin: posing it again adds nobody
                other.pose = est
                other.person.keypoints2d, other.person.keypoints3d = (est.keypoints2d,
                                                                      est.keypoints3d)

    def _hide(self, image: np.ndarray, cand: _Candidate) -> tuple[np.ndarray, np.ndarray]:
        """``image`` with ``cand``'s pose mask (grown) filled from around it, and that mask."""
        import cv2

        x0, y0, x1, y1 = cand.pose.crop
        hide = np.zeros(image.shape[:2], bool)
        hide[y0:y1, x0:x1] = cand.pose.mask > self.options.mask_threshold
        height = float(cand.person.box[3] - cand.person.box[1])
        hide = dilate(hide, max(int(round(TWIN_HIDE_GROWTH * height)), 1))
        hidden = cv2.inpaint(np.ascontiguousarray(image), hide.astype(np.uint8), 3,
                             cv2.INPAINT_TELEA)
        return hidden, hide

    def _pose_on_keypoints(self, image: np.ndarray, cands: list[_Candidate]) -> None:
        """A weak find with MoveNet's keypoints whom MediaPipe could not pose on their box:
        MediaPipe again, on the crop the keypoints span. Where the two agree (the same joints
        in the same places, as ``_promote_agreeing`` asks next), the person has their pose and
        their box grows to hold the keypoints.

        The boxes of weak finds are loose: two halves of one walker passing the road sign
        (vtest frame 160, 0.23 and 0.26), or one box over two men (frame 25, 0.25). MediaPipe
        found no body on either crop, and they were masked black as uncertain detections. On
        the keypoints' own crop it found one whose joints agree with MoveNet's for 9 of the 41
        such finds on 159 street frames and the labelled photos, each a person."""
        if self.pose is None:
            return
        size = image.shape[:2]
        todo, extents = [], []
        for c in cands:
            kp = c.person.keypoints_coco17
            if c.pose is not None or kp is None or c.person.score >= SEED_POSE_SCORE:
                continue
            if (kp[:, 2] >= AGREE_KEYPOINT_SCORE).sum() < AGREE_MIN_JOINTS:
                continue
            todo.append(c)
            extents.append(clip_box(points_box(kp, AGREE_KEYPOINT_SCORE), size))
        for c, extent, est in zip(todo, extents, self._poses(image, extents)):
            person = c.person
            if (est is None or est.score < POSE_BODY_SCORE
                    or not centred_in(est.keypoints2d, extent)
                    or not _two_skeletons_agree(est.keypoints2d, person.keypoints_coco17,
                                                extent)):
                continue
            c.pose, c.keypoint_crop = est, extent
            person.keypoints2d, person.keypoints3d = est.keypoints2d, est.keypoints3d
            person.keypoint_format = "mediapipe33"
            person.box = clip_box(union_box(person.box, extent), size)

    def _promote_agreeing(self, cands: list[_Candidate]) -> list[_Candidate]:
        """A weak find whose two skeletons agree is sure: MoveNet's keypoints of this person
        and MediaPipe's body centred in their box, the same joints in the same places, unless
        that body is a surer person's, found twice. Returns the finds folded into that person:
        those posed on their keypoints' crop, which then joins that person's box.

        A weak score alone (MoveNet gave 0.17-0.20 to two men walking side by side at vtest
        frame 160, whom the SSDs boxed as one) left them masked black beside a neighbour's
        stand-in. No mask share is asked, as of a pose alone: one of them is half behind a
        road sign. A weak box behind a walker can hold his pose, not the hidden man's (vtest
        frame 740: MediaPipe's landmarks in it lay 5 % of its height from the walker's). Where
        both models put the sure person's skeleton in a weak box, on the crop of MoveNet's
        own keypoints, the box is that person's: at vtest frame 160 two weak halves of a
        walker beside his sure box were masked black over half of his stand-in."""
        sure = [c for c in cands if c.pose is not None and c.person.score >= SEED_POSE_SCORE]
        folded = []
        for c in cands:
            p, est = c.person, c.pose
            if (est is None or p.score >= SEED_POSE_SCORE or p.keypoints_coco17 is None
                    or est.score < POSE_BODY_SCORE or not centred_in(est.keypoints2d, p.box)
                    or not _two_skeletons_agree(est.keypoints2d, p.keypoints_coco17, p.box)):
                continue
            host = next((s for s in sure if _agree(coco_order(est.keypoints2d),
                                                   coco_order(s.pose.keypoints2d), p.box, 0.5)),
                        None)
            if host is None:
                p.score = max(p.score, est.score)
                sure.append(c)  # a second weak find of the same body is found twice, too
            elif c.keypoint_crop is not None:
                # The crop, not the loose box: a box as wide as the street (vtest 80) held a
                # walker's keypoints too, and a whole-street box is no one's (_group_boxes).
                host.person.box = union_box(host.person.box, c.keypoint_crop)
                folded.append(c)
        return folded

    def _group_boxes(self, cands: list[_Candidate]) -> list[_Candidate]:
        """Boxes wider than tall over a group of people found on their own: no one.

        A detector's box over a row of walkers is vouched for by a pose or keypoints, which
        are theirs (the COCO SSD gave 0.21-0.33 to boxes as wide as the street on vtest
        650-679; MoveNet 0.57-0.65 to one over three men talking, vtest 60-89). As a person
        it was masked where its own segmentation lay away from them: the lamp post, a sign,
        a tripod, on some frames and not others (a black slab blinking beside the stand-ins).
        Dropped before faces and pixels are shared out, its faces and person pixels are left
        to the people in it, the face seeds and the residual guard, which asks a second
        witness of every blob (and a group box is none)."""
        found = [c for c in cands if not self._unsupported(c)]
        return [c for c in cands
                if is_group_box(c.person.box, [o.person.box for o in found if o is not c])]

    def _second_opinion(self, image: np.ndarray, cands: list[_Candidate]) -> None:
        """MoveNet's keypoints on the crop of each person whose MediaPipe landmarks span too
        little of their (final) box to be their body (a pose found in the bush above a walker,
        or on the ball in a catcher's hands), or whose posture is doubtful (``posture.py``:
        legs folded above the feet of their final mask, the head not above the hips). A method
        that refuses such landmarks can follow these instead of failing closed (vtest frame
        300: keypoints over the walker's whole height where MediaPipe's spanned a fifth of
        it); RefSD follows them where they stand the person upright on their feet."""
        if self.keypoints is None:
            return
        for c in cands:
            p = c.person
            if (p.keypoints_coco17 is None and p.keypoints2d is not None
                    and p.keypoint_format == "mediapipe33"
                    and (landmark_span(p.keypoints2d, p.box) < MIN_LANDMARK_SPAN
                         or doubtful_landmarks(p.keypoints2d, p.mask, p.box))):
                p.keypoints_coco17 = self.keypoints(image, p.box)

    def _add_segment(self, image: np.ndarray, cand: _Candidate) -> None:
        """The pose-free mask source: selfie segmentation on the person's own square crop.

        The whole-frame segmentation sees a 60-120 px walker at a quarter of the model's
        resolution and misses much of them; on their own crop it sees them at full size."""
        import cv2

        person = cand.person
        if self.segmenter is None or person.mask is not None:
            return
        h, w = image.shape[:2]
        x0, y0, x1, y1 = [float(v) for v in person.box]
        full = int(np.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * CROP_MARGIN)))
        left = int(np.floor((x0 + x1 - full) / 2))
        top = int(np.floor((y0 + y1 - full) / 2))
        cx0, cy0 = max(left, 0), max(top, 0)
        cx1, cy1 = min(left + full, w), min(top + full, h)
        if cx1 - cx0 < 8 or cy1 - cy0 < 8:
            return
        # The part cut by the frame edge is padded, so the person keeps their proportions.
        view = np.zeros((full, full, 3), np.uint8)
        oy, ox = cy0 - top, cx0 - left
        view[oy:oy + cy1 - cy0, ox:ox + cx1 - cx0] = image[cy0:cy1, cx0:cx1]
        prob = self.segmenter(view)
        if prob.shape != (full, full):
            prob = cv2.resize(prob, (full, full), interpolation=cv2.INTER_LINEAR)
        cand.segment = ((cx0, cy0, cx1, cy1), prob[oy:oy + cy1 - cy0, ox:ox + cx1 - cx0])

    @staticmethod
    def _seed_crop(face: Face, size: tuple[int, int]) -> np.ndarray:
        """Where a face's body would be: a body-sized crop below it."""
        x0, y0, x1, y1 = [float(v) for v in face.box]
        fw, fh = x1 - x0, y1 - y0
        return clip_box(np.array([x0 - SEED_SIDE * fw, y0 - SEED_UP * fh,
                                  x1 + SEED_SIDE * fw, y1 + SEED_DOWN * fh]), size)

    def _seed(self, image: np.ndarray, face: Face, crop: np.ndarray,
              est: PoseEstimate | None) -> _Candidate:
        """A person around a face nobody claimed, from the pose ``est`` on its ``crop``."""
        size = image.shape[:2]
        head = clip_box(head_box(face.box), size)
        person = Person(box=head, score=float(face.score), faces=[face], source="face")
        cand = _Candidate(person, seeded=True)
        if self.pose is not None:
            # Keep the pose only if its head is this face (the crop may hold someone else)
            # and above its hips: MediaPipe posed a black bag lying by a tripod, upside down or
            # lying, under a weak "face" on it (vtest 5, 25, 160, 655, 720), and the bag
            # became a sure person, a phantom stand-in beside the road sign.
            if (est is not None and _head_cost(est.keypoints2d, face) <= MAX_HEAD_DISTANCE
                    and not upside_down(est.keypoints2d, crop)):
                cand.pose = est
                person.keypoints2d, person.keypoints3d = est.keypoints2d, est.keypoints3d
                # Two witnesses agree: a face, and a body whose head is that face. The face
                # score alone (0.12-0.22 for walkers' small faces on a street clip) left real
                # people entering at the frame's bottom masked black until a detector caught
                # them, then replaced: a stand-in blinking in from a black figure.
                if est.score >= SEED_POSE_SCORE:
                    person.score = max(person.score, est.score)
                kb = points_box(est.keypoints2d)
                if kb is not None:
                    person.box = clip_box(union_box(head, kb), size)
        if cand.pose is None and self.keypoints is not None:
            kp = self.keypoints(image, crop)
            # Theirs only if its head is this face.
            if kp is not None and _head_cost(kp, face, COCO17_HEAD, 0.2) <= MAX_HEAD_DISTANCE:
                person.keypoints_coco17 = kp
        return cand

    def _resolve_masks(self, image: np.ndarray, cands: list[_Candidate],
                       selfie: np.ndarray | None) -> None:
        """Give every pixel to at most one person: the one with the strongest evidence."""
        h, w = image.shape[:2]
        thr = self.options.mask_threshold
        # Work inside the union of all boxes and crops only: the rest belongs to nobody.
        extents = [int_box(c.person.box, (h, w)) for c in cands]
        extents += [c.pose.crop for c in cands if c.pose is not None]
        extents += [c.segment[0] for c in cands if c.segment is not None]
        extents += [mask_bbox(c.person.mask) or (0, 0, 0, 0) for c in cands
                    if c.person.mask is not None]
        ox0, oy0 = min(e[0] for e in extents), min(e[1] for e in extents)
        ox1, oy1 = max(e[2] for e in extents), max(e[3] for e in extents)
        rh, rw = max(oy1 - oy0, 0), max(ox1 - ox0, 0)
        strength = np.zeros((len(cands), rh, rw), np.float32)  # who wins a pixel
        claim = np.zeros((len(cands), rh, rw), bool)  # who may take it at all
        for i, c in enumerate(cands):
            p = c.person
            if p.mask is not None:  # given by the detector (or annotations): kept as it is
                given = p.mask[oy0:oy1, ox0:ox1]
                strength[i][given] = 1.0
                claim[i] = given
                continue
            if c.pose is not None:
                x0, y0, x1, y1 = c.pose.crop
                strength[i, y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0] = c.pose.mask
                claim[i, y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0] = c.pose.mask > thr
            elif c.segment is not None:
                # The crop's segmentation is not one person's (a neighbour in the crop is
                # person too): it weakens away from the box, so the neighbour's own wins.
                (x0, y0, x1, y1), s = c.segment
                sl = (i, slice(y0 - oy0, y1 - oy0), slice(x0 - ox0, x1 - ox0))
                d = _box_distance(int_box(p.box, (h, w)), c.segment[0])
                # Kept above 0 where claimed: a pixel only this person claims stays theirs.
                strength[sl] = np.maximum(s * (1.0 - SELFIE_EDGE_FALLOFF * d), 0.01)
                claim[sl] = s > SEGMENT_THRESHOLD
            bx0, by0, bx1, by1 = int_box(p.box, (h, w))
            if selfie is not None and bx1 > bx0 and by1 > by0:
                s = selfie[by0:by1, bx0:bx1]
                d = _box_distance((bx0, by0, bx1, by1), (bx0, by0, bx1, by1))
                sl = (i, slice(by0 - oy0, by1 - oy0), slice(bx0 - ox0, bx1 - ox0))
                np.maximum(strength[sl], s * (SELFIE_WEIGHT - SELFIE_EDGE_FALLOFF * d),
                           out=strength[sl])
                claim[sl] |= s > thr
        winner = np.argmax(strength, axis=0) if len(cands) > 1 else np.zeros((rh, rw), int)
        for i, c in enumerate(cands):
            p = c.person
            mine = claim[i] & (winner == i)
            if not mine.any():
                p.mask = None  # no pixels: the region falls back to the (fail-closed) box
                continue
            mask = np.zeros((h, w), bool)
            mask[oy0:oy1, ox0:ox1] = mine
            p.mask = mask
            # The box covers the whole mask (a seeded person's box starts as their head).
            p.box = clip_box(union_box(p.box, np.array(mask_bbox(mask), np.float32)), (h, w))
        _grow_segments(cands, (h, w))


def assign_faces(people: list[Person], faces: Sequence[Face]) -> list[Face]:
    """Give each person at most one face (the one at their head); return the unclaimed faces.

    Cost: distance from the face centre to the person's visible head landmarks in face-box
    diagonals; without landmarks, to the top middle of the box in box widths, and only when
    the face lies inside the box. Assigned greedily, cheapest first.
    """
    pairs = []
    for fi, face in enumerate(faces):
        for pi, person in enumerate(people):
            if person.faces:
                continue
            cost = _face_person_cost(face, person)
            if cost is not None:
                pairs.append((cost, fi, pi))
    taken_faces, taken_people = set(), set()
    for cost, fi, pi in sorted(pairs):
        if fi in taken_faces or pi in taken_people:
            continue
        people[pi].faces.append(faces[fi])
        taken_faces.add(fi)
        taken_people.add(pi)
    claimed = {id(f) for p in people for f in p.faces}
    return [f for f in faces if id(f) not in claimed]


def _face_fits(face: Face, person: Person) -> bool:
    """Whether ``face`` is no taller than ``MAX_FACE_SHARE`` of ``person``'s box."""
    return face.box[3] - face.box[1] <= MAX_FACE_SHARE * (person.box[3] - person.box[1])


def _face_person_cost(face: Face, person: Person) -> float | None:
    if not _face_fits(face, person):
        return None
    if person.keypoints2d is not None and person.keypoint_format == "mediapipe33":
        cost = _head_cost(person.keypoints2d, face)
        if cost <= MAX_HEAD_DISTANCE:
            return cost
        # Landmarks of a small person are coarse: a face well inside the head of their box is
        # still theirs (else it would become a second, head-sized person on top of them: on a
        # street clip, walkers 60-120 px tall got a black blob or a second stand-in).
        return _box_head_cost(face, person, HEAD_ZONE, penalty=1.5)
    if person.keypoints_coco17 is not None:
        cost = _head_cost(person.keypoints_coco17, face, COCO17_HEAD, 0.2)
        if cost <= MAX_HEAD_DISTANCE:
            return cost
    return _box_head_cost(face, person, 1.0, penalty=0.5)


def _box_head_cost(face: Face, person: Person, zone: float, penalty: float) -> float | None:
    """Distance from the face centre to the top middle of the person's box, in box widths,
    plus ``penalty``; None unless the centre lies inside the box's top ``zone`` share."""
    fx, fy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    x0, y0, x1, y1 = [float(v) for v in person.box]
    if not (x0 <= fx <= x1 and y0 <= fy <= y0 + zone * (y1 - y0)):
        return None
    bw = max(x1 - x0, 1.0)
    # Faces sit in the top part of a box; the cost grows with the distance from its top middle.
    return float(np.hypot(fx - (x0 + x1) / 2, fy - (y0 + 0.1 * (y1 - y0))) / bw) + penalty


def _head_cost(keypoints2d: np.ndarray, face: Face, head_ids: Sequence[int] = HEAD_LANDMARKS,
               min_visibility: float = 0.5) -> float:
    head = keypoints2d[list(head_ids)]
    vis = head[head[:, 2] > min_visibility]
    if len(vis) == 0:
        return float("inf")
    fx, fy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    diag = float(np.hypot(face.box[2] - face.box[0], face.box[3] - face.box[1])) or 1.0
    hx, hy = np.median(vis[:, 0]), np.median(vis[:, 1])
    return float(np.hypot(fx - hx, fy - hy) / diag)


def _twin(seed: _Candidate, cands: list[_Candidate], iou: float) -> _Candidate | None:
    """The already-found person a seeded one duplicates, if any: by pose landmarks, or, for
    a seed with MoveNet's keypoints only, by the same skeleton as the person's landmarks.

    A walker on the phone (vtest 418-424) was boxed by every detector from his shoulders
    down; his face, left unclaimed above the box, seeded a head-sized weak person with
    MoveNet's keypoints of his body, masked black over his stand-in's head for 7 frames."""
    if seed.pose is not None:
        for c in cands:
            if c.pose is not None and \
                    _keypoint_iou(seed.pose.keypoints2d, c.pose.keypoints2d) >= iou:
                return c
        return None
    keypoints = seed.person.keypoints_coco17
    if keypoints is None:
        return None
    for c in cands:
        if c.pose is not None and _agree(coco_order(c.pose.keypoints2d), keypoints,
                                                 c.person.box, AGREE_KEYPOINT_SCORE):
            return c
    return None


def _one_skeleton(a: _Candidate, b: _Candidate) -> bool:
    """Whether two posed candidates carry the same skeleton (judged on the taller box)."""
    box = max(a.person.box, b.person.box, key=lambda bx: float(bx[3] - bx[1]))
    return _agree(coco_order(a.pose.keypoints2d), coco_order(b.pose.keypoints2d), box, 0.5)


def _owner_first(a: _Candidate, b: _Candidate) -> tuple[_Candidate, _Candidate]:
    """The two, the one whose box the shared skeleton's extent fits better first."""
    extent = points_box(a.pose.keypoints2d)
    if extent is None:
        return a, b
    return (a, b) if box_iou(extent, a.person.box) >= box_iou(extent, b.person.box) else (b, a)


def _another_body(est: PoseEstimate, box: np.ndarray, hidden: np.ndarray) -> bool:
    """Whether a pose found with someone ``hidden`` is a body in ``box`` of its own: torso
    seen, centred in the box, spanning it, head above hips, head and torso off the hidden
    pixels, and most of its mask on pixels that were not hidden. (At vtest frame 570 a weak
    third box over a walker and the woman behind him was posed upside down between them.)"""
    if (est.score < POSE_BODY_SCORE or not centred_in(est.keypoints2d, box)
            or landmark_span(est.keypoints2d, box) < TWIN_MIN_SPAN
            or head_above_hips(est.keypoints2d, box) < MIN_UPRIGHT):
        return False
    core = est.keypoints2d[list(CORE_LANDMARKS)]
    points = np.round(core[core[:, 2] > 0.5, :2]).astype(int)
    h, w = hidden.shape
    points = points[(points[:, 0] >= 0) & (points[:, 0] < w)
                    & (points[:, 1] >= 0) & (points[:, 1] < h)]
    if hidden[points[:, 1], points[:, 0]].any():
        return False
    x0, y0, x1, y1 = est.crop
    body = est.mask > 0.5
    unhidden = (body & ~hidden[y0:y1, x0:x1]).sum()
    return bool(unhidden >= TWIN_MIN_UNHIDDEN * max(int(body.sum()), 1))


def _keypoint_iou(a: np.ndarray, b: np.ndarray) -> float:
    ba, bb = points_box(a), points_box(b)
    if ba is None or bb is None:
        return 0.0
    return box_iou(ba, bb)


def _two_skeletons_agree(landmarks: np.ndarray, coco17: np.ndarray, box: np.ndarray) -> bool:
    """Whether MediaPipe's landmarks and MoveNet's COCO-17 keypoints are one skeleton."""
    return _agree(coco_order(landmarks), coco17, box, AGREE_KEYPOINT_SCORE)


def _agree(ours: np.ndarray, theirs: np.ndarray, box: np.ndarray, their_score: float
           ) -> bool:
    """``posture.same_skeleton`` with the assembler's ``AGREE_*`` thresholds."""
    return same_skeleton(ours, theirs, box, their_score, AGREE_MIN_JOINTS, AGREE_SHARE)


def _vouches(pose: PoseEstimate, box: np.ndarray, size: tuple[int, int],
             threshold: float) -> bool:
    """Whether ``pose`` is a body in ``box``: enough to keep a weak box nothing else supports.

    MediaPipe poses objects: on the street clip (vtest 512-529) a traffic cone (torso seen at
    0.13) was kept as a person on every frame and masked black beside the stand-ins, as the
    residual guard's lamp post and road sign were before it asked the same of a blob's pose.
    A walker's pose mask fills ~half their box. A tripod it poses as a whole body (torso at
    0.99, mask on 3-36 % of the box, by frame) passes on some frames: no model here tells it
    from a thin person."""
    return _pose_is_body(pose, box, box_mask(box, size), MIN_SEGMENT_FILL, threshold)


def _pose_is_body(pose: PoseEstimate, box: np.ndarray, pixels: np.ndarray, share: float,
                  threshold: float) -> bool:
    """Whether ``pose`` is a body on ``pixels`` (a residual blob, or a box's pixels): its
    torso seen (``POSE_BODY_SCORE``), its head and torso inside ``box``, and its own mask on
    at least ``share`` of ``pixels``."""
    return (pose.score >= POSE_BODY_SCORE and centred_in(pose.keypoints2d, box)
            and _pose_share(pose, pixels, threshold) >= share)


def _pose_share(pose: PoseEstimate, blob: np.ndarray, threshold: float) -> float:
    """Share of ``blob``'s pixels that ``pose``'s own mask also calls person."""
    x0, y0, x1, y1 = pose.crop
    inside = blob[y0:y1, x0:x1] & (pose.mask > threshold)
    return float(inside.sum()) / max(int(blob.sum()), 1)


def _grow_segments(cands: list[_Candidate], size: tuple[int, int]) -> None:
    """Grow each pose-free mask by ``SEGMENT_GROWTH`` of its person's height into pixels no
    one owns, so a pixel still belongs to one person; a mask filling under
    ``MIN_SEGMENT_FILL`` of the box gives way to the box."""
    grown = [c for c in cands if c.segment is not None and c.person.mask is not None]
    if not grown:
        return
    owned = np.zeros(size, bool)
    for c in cands:
        if c.person.mask is not None:
            owned |= c.person.mask
    for c in grown:
        p = c.person
        x0, y0, x1, y1 = int_box(p.box, size)
        if p.mask[y0:y1, x0:x1].sum() < MIN_SEGMENT_FILL * max((x1 - x0) * (y1 - y0), 1):
            p.mask = None  # fail closed: the region is the box
            continue
        height = float(p.box[3] - p.box[1])
        extra = dilate(p.mask, max(2, int(round(SEGMENT_GROWTH * height)))) & ~owned
        p.mask = p.mask | extra
        owned |= extra
        p.box = clip_box(union_box(p.box, np.array(mask_bbox(p.mask), np.float32)), size)


def _box_distance(box: tuple[int, int, int, int], area: tuple[int, int, int, int]
                  ) -> np.ndarray:
    """Over the pixels of ``area``: Chebyshev distance from ``box``'s centre in half-sides of
    the box, 0 at the centre and 1 on its edge (more outside it)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    ax0, ay0, ax1, ay1 = area
    dx = np.abs(np.arange(ax0, ax1) + 0.5 - (x0 + x1) / 2) / max((x1 - x0) / 2, 1)
    dy = np.abs(np.arange(ay0, ay1) + 0.5 - (y0 + y1) / 2) / max((y1 - y0) / 2, 1)
    return np.maximum(dy[:, None], dx[None, :]).astype(np.float32)
