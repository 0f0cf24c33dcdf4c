"""Video perception for methods that read no pose: the whole people stage on keyframes, and
between them each person carried along the optical flow, with a cheap detector and a motion
check to call the next keyframe early.

On a 768x576 street clip with ~9 walkers per frame the pose-free people stage and the faces
cost ~1 s per frame on 2 busy cores (issue 18; cProfile, load ~4: the three people detectors
0.33 s, MediaPipe pose for weak finds, face seeds and residual blobs 0.35 s, faces 0.15 s,
segmentation 0.1 s); SSDLite alone is 0.07 s, the flow and the carried masks 0.04 s. So a
frame between keyframes gets:

* **each keyframe person and face moved with the flow**: Lucas-Kanade tracks corner points
  inside each person's mask from the previous frame; the median shift moves the mask, box,
  keypoints and faces (a person with too few points keeps their last speed). The mask is grown
  by ``margin`` of the person's height plus ``margin_per_frame`` per frame since the keyframe,
  because limbs swing about the median (fail closed: over-covering is the safe side);
* **a new keyframe** when something may be uncovered: SSDLite finds a person whose box is not
  mostly inside the carried boxes (someone new, or someone the flow lost), a matched box grew
  by more than ``resize`` (walking towards the camera), or pixels moved between the last two
  frames outside everything covered (someone the cheap detector missed), and in any case
  every ``interval`` frames.

Keyframes are perceived exactly as a photo is (``Perceiver.detect``), and the tracker still
bridges gaps and carries people through the frame's edge afterwards.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from understudy.errors import UsageError
from understudy.regions import (box_iou, box_mask, clip_box, mask_bbox, moved_points,
                                padded_bbox, union_box)
from understudy.scene import Face, Frame, Person, Scene

# Lucas-Kanade: corners at least this far apart, this many at most over all the people, and a
# point counts only if tracking it back lands within BACK_PX of where it started.
CORNER_SPACING = 4
MAX_CORNERS = 1500
CORNER_PAD = 4  # pixels around the people's box where corners are searched (see _corners)
BACK_PX = 1.0
# A person needs this many tracked points for their own shift; fewer keep the last speed.
MIN_POINTS = 4
# Corners are taken this share of the box width inside the mask's edge.
INSIDE = 0.12
# A carried person is found again by a keyframe person overlapping them this much.
LOST_IOU = 0.3
# Only a find scoring at least this is carried past a keyframe that lost it: a weak box as wide
# as the street (MoveNet, 0.2-0.29 on vtest 36-47) would become a black bar for 16 frames.
# The walker this rule is for scored 0.41-0.44 on the frames before his detectors' gap.
LOST_MIN_SCORE = 0.3
# A box this close to the frame's border is cut by it.
BORDER_PX = 2.0
# Motion check at half resolution: a pixel moved when its grey level changed by this much
# between the last two frames.
MOTION_LEVEL = 20


@dataclass
class KeyframeOptions:
    """When to perceive a frame in full, and how carried masks grow between keyframes."""

    interval: int = 12  # a keyframe at least every this many frames (1: every frame)
    margin: float = 0.04  # carried masks grow by this share of the person's height ...
    margin_per_frame: float = 0.01  # ... plus this share per frame since the keyframe
    # A cheap detection less than this share inside the carried boxes is someone new.
    new_inside: float = 0.6
    # A cheap detection matching a carried person who is taller by more than this share.
    resize: float = 0.25
    # Moving pixels outside the covered region, in one blob of at least this many full-size
    # pixels, call a keyframe (a 60 px walker's head and shoulders are ~400).
    motion_px: int = 400
    # Early keyframes (any reason but the interval) come at most once per this many frames (1:
    # the cheap detector and the motion check run on every frame between keyframes; with 2, a
    # walker entering at the edge on vtest 115 was left visible on the unchecked frames).
    min_gap: int = 1
    # A person carried to a keyframe that does not find them is carried on for this many
    # frames more (the tracker bridges gaps of ``max_gap``, 5, between detections).
    lost_frames: int = 6

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise UsageError(f"keyframe interval must be >= 1 frame, got {self.interval}")
        if self.margin < 0 or self.margin_per_frame < 0:
            raise UsageError(f"keyframe margins must be >= 0, got {self.margin}, "
                             f"{self.margin_per_frame}")
        if not 0 < self.new_inside <= 1:
            raise UsageError(f"new_inside must be in (0, 1], got {self.new_inside}")
        if self.min_gap < 1:
            raise UsageError(f"min_gap must be >= 1 frame, got {self.min_gap}")


@dataclass
class _Carried:
    """One person or stray face of a keyframe, and how far it has moved since."""

    item: Person | Face
    box: np.ndarray  # its box on its keyframe
    mask: np.ndarray | None  # its mask on its keyframe (full frame), or None
    faces: list[Face]  # a person's faces, as on the keyframe
    born: int  # the frame number of its keyframe
    offset: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2, np.float32))
    velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2, np.float32))
    lost: int | None = None  # the keyframe that did not find it again (then carried a while)

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def moved_box(self) -> np.ndarray:
        return self.box + np.tile(self.offset, 2)


class KeyframePerception:
    """``KeyframePerception(detect, cheap).run(frames) -> scenes``, one per frame, in order.

    ``detect`` is the full perception of one frame (``Perceiver.detect``); ``cheap`` is a
    ``PeopleDetector`` run on every frame between keyframes (SSDLite). ``counts`` says how
    many frames were keyframes and why, for benchmarks and tests.

    A person a keyframe does not find again (detectors blink: a walker on the street clip was
    found on frames 8-9 and 14-19 only) is carried on for ``lost_frames`` frames past the
    keyframe that missed them, marked ``interpolated``: the every-frame run bridges such gaps
    with the tracker, which sees only what a keyframe or the flow gives it.
    """

    def __init__(self, detect: Callable[[Frame], Scene],
                 cheap: Callable[[np.ndarray], list[Person]],
                 options: KeyframeOptions | None = None):
        self.detect = detect
        self.cheap = cheap
        self.options = options or KeyframeOptions()
        self.counts: dict[str, int] = {}

    def run(self, frames: Iterable[Frame]) -> Iterator[Scene]:
        # The cheap detector of a frame between keyframes runs beside the optical flow and the
        # carried masks of the same frame (both mostly native code that releases the GIL).
        with ThreadPoolExecutor(1, thread_name_prefix="understudy-cheap") as beside:
            yield from self._run(frames, beside)

    def _run(self, frames: Iterable[Frame], beside: ThreadPoolExecutor) -> Iterator[Scene]:
        import cv2

        o = self.options
        carried: list[_Carried] = []
        # Cheap finds a keyframe they called saw nobody at (see ``_doubt``), until the next
        # scheduled keyframe.
        nobody: list[np.ndarray] = []
        last_key = None  # frame number of the last keyframe
        target = "people"
        prev = None
        for n, frame in enumerate(frames):
            since = None if last_key is None else n - last_key
            reason = "first" if since is None else "interval" if since >= o.interval else None
            cheap = beside.submit(self.cheap, frame.image) \
                if reason is None and since >= o.min_gap else None
            gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
            if prev is not None:
                _follow(prev, gray, carried)
            carried = [c for c in carried if c.lost is None or n - c.lost <= o.lost_frames]
            scene = None
            newcomer = None
            if reason is None:
                scene = self._carried_scene(frame, carried, n, target)
                if cheap is not None:
                    reason, newcomer = self._doubt(frame, prev, gray, scene, carried,
                                                   cheap.result(), nobody)
            if reason is not None:
                scene = self.detect(frame)
                if reason in ("first", "interval"):
                    nobody = []
                elif newcomer is not None and _inside_union(
                        newcomer, [p.box for p in scene.people], frame.size) < o.new_inside:
                    nobody.append(newcomer)
                carried = _carry(scene, n) + _lost(carried, scene, n)
                target = scene.target
                lost = self._carried_scene(frame, [c for c in carried if c.lost is not None],
                                           n, target)
                scene.people += lost.people
                scene.faces += lost.faces
                last_key = n
            self.counts[reason or "carried"] = self.counts.get(reason or "carried", 0) + 1
            prev = gray
            yield scene

    def _carried_scene(self, frame: Frame, carried: list[_Carried], n: int,
                       target: str) -> Scene:
        """The carried people and faces where the flow put them on frame ``n``."""
        size = frame.size
        o = self.options
        people, stray = [], []
        for c in carried:
            faces = [f for f in (_moved_face(f, c.offset, size) for f in c.faces) if f]
            if isinstance(c.item, Face):
                stray += faces
                continue
            pad = (o.margin + o.margin_per_frame * (n - c.born)) * c.height
            box = _clip(c.moved_box() + np.array([-pad, -pad, pad, pad], np.float32), size)
            if box is None:
                continue  # moved out of the frame
            mask = None if c.mask is None else _moved_mask(c.mask, c.offset, int(round(pad)))
            if mask is not None and not mask.any():
                mask = None
            if mask is not None:  # the mask may reach past the box towards the border
                bx = mask_bbox(mask)
                box = union_box(box, bx)
            p = c.item
            people.append(dataclasses.replace(
                p, box=box, mask=mask, faces=faces,
                keypoints2d=moved_points(p.keypoints2d, c.offset),
                keypoints_coco17=moved_points(p.keypoints_coco17, c.offset),
                track_id=None, track_score=None, interpolated=c.lost is not None,
                pose_from_track=False,
                attributes=dict(p.attributes)))
            stray += faces
        return Scene(frame, people=people, faces=stray, target=target)

    def _doubt(self, frame: Frame, prev: np.ndarray, gray: np.ndarray, scene: Scene,
               carried: list[_Carried], cheap: list[Person], nobody: list[np.ndarray]
               ) -> tuple[str | None, np.ndarray | None]:
        """Why this frame needs a keyframe after all (None: it does not), and the cheap
        find that is someone new, if that is why (``cheap``: the cheap detector's people on
        it).

        A cheap find inside ``nobody`` is not new: a keyframe it called saw nobody there.
        SSDLite boxed the street's sign posts at 0.3-0.5 on frame after frame, and the full
        perception drops such finds (``perception/second_look.py``); on vtest 200-259 they
        called 11 keyframes instead of 2, and mask-out fell from 5.9 to 4.2-5.0 frames/s.
        Moving pixels outside everyone covered still call one, and so does the interval."""
        o = self.options
        boxes = [p.box for p in scene.people]
        bodies = [c.moved_box() for c in carried if isinstance(c.item, Person)]
        for d in cheap:
            if _inside_union(d.box, boxes + nobody, frame.size) < o.new_inside:
                return "new person", np.asarray(d.box, np.float32).copy()
            # A person walking towards the camera outgrows their carried mask. A smaller box
            # is no risk (the mask covers more): SSDLite's boxes were 20-30 % shorter than the
            # fused ones for 3 of the 4 keyframes this called on vtest 200-259.
            body = max(bodies, key=lambda b: box_iou(b, d.box), default=None)
            if body is not None and box_iou(body, d.box) >= 0.5:
                ours, theirs = float(body[3] - body[1]), float(d.box[3] - d.box[1])
                if theirs > (1.0 + o.resize) * max(ours, 1.0):
                    return "size change", None
        if _moving_outside(prev, gray, scene, o.motion_px):
            return "motion", None
        return None, None


def _carry(scene: Scene, n: int) -> list[_Carried]:
    """What of keyframe ``n`` moves along the next frames: each person (mask and faces with
    them) and each face no person holds."""
    held = set()
    carried = []
    for p in scene.people:
        held.update(id(f) for f in p.faces)
        mask = None if p.mask is None else p.mask.copy()
        if mask is not None and _at_border(p.box, mask.shape):
            # Half in view, their mask is a sliver of what walks in next (vtest 114: a walker
            # entering on the right, his legs left visible beside his carried mask): the box.
            mask |= box_mask(p.box, mask.shape)
        # A copy: the tracker and the perceiver's selection later change the keyframe's own.
        carried.append(_Carried(dataclasses.replace(p, faces=list(p.faces)),
                                np.asarray(p.box, np.float32).copy(), mask, list(p.faces), n))
    for f in scene.faces:
        if id(f) not in held:
            carried.append(_Carried(f, np.asarray(f.box, np.float32).copy(), None, [f], n))
    return carried


def _at_border(box: np.ndarray, size: tuple[int, int]) -> bool:
    h, w = size
    return bool(box[0] <= BORDER_PX or box[1] <= BORDER_PX or box[2] >= w - BORDER_PX
                or box[3] >= h - BORDER_PX)


def _lost(carried: list[_Carried], scene: Scene, n: int) -> list[_Carried]:
    """The people carried to keyframe ``n`` that none of its people overlaps: still carried
    (``lost``), from the keyframe they were last found on."""
    boxes = [p.box for p in scene.people]
    out = []
    for c in carried:
        if isinstance(c.item, Face) or c.item.score < LOST_MIN_SCORE:
            continue
        box = c.moved_box()
        if any(box_iou(box, b) >= LOST_IOU for b in boxes):
            continue  # found again
        if c.lost is None:
            c.lost = n
        out.append(c)
    return out


def _follow(prev: np.ndarray, gray: np.ndarray, carried: list[_Carried]) -> None:
    """Move each carried item by the median Lucas-Kanade shift of the corners inside it from
    ``prev`` to ``gray`` (forward-backward checked); too few corners: its last speed."""
    import cv2

    if not carried:
        return
    h, w = gray.shape
    where = np.zeros((h, w), np.uint8)
    regions = []
    for c in carried:
        region = _region_now(c, (h, w))
        regions.append(region)
        if region is not None:
            (x0, y0, x1, y1), m = region
            where[y0:y1, x0:x1] |= m
    pts = _corners(prev, where)
    shifts = np.zeros((0, 2), np.float32)
    start = np.zeros((0, 2), np.float32)
    if pts is not None and len(pts):
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, gray, pts, None, winSize=(15, 15),
                                              maxLevel=3)
        back, ok2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, nxt, None, winSize=(15, 15),
                                                maxLevel=3)
        good = (ok[:, 0] == 1) & (ok2[:, 0] == 1) & \
            (np.linalg.norm((back - pts)[:, 0], axis=1) < BACK_PX)
        start, shifts = pts[good, 0], (nxt - pts)[good, 0]
    xi, yi = start[:, 0].astype(int), start[:, 1].astype(int)
    for c, region in zip(carried, regions):
        step = c.velocity
        if region is not None and len(start):
            (x0, y0, x1, y1), m = region
            inside = (xi >= x0) & (xi < x1) & (yi >= y0) & (yi < y1)
            idx = np.flatnonzero(inside)
            idx = idx[m[yi[idx] - y0, xi[idx] - x0] > 0]
            if len(idx) >= MIN_POINTS:
                step = np.median(shifts[idx], axis=0).astype(np.float32)
        c.velocity = step
        c.offset = c.offset + step


def _corners(gray: np.ndarray, where: np.ndarray) -> np.ndarray | None:
    """``cv2.goodFeaturesToTrack`` on ``gray`` inside ``where``, searched on the bounding box
    of ``where`` only (the people cover a band of a street frame, so this is ~3 of its ~7 ms).

    The same corners as on the whole frame: a corner's score reads 2 pixels around it and the
    local-maximum test 1 more, so a crop padded by ``CORNER_PAD`` scores every pixel of
    ``where`` as the whole frame does; the quality threshold is taken over ``where`` either
    way; and corners of equal score keep their row-major order."""
    import cv2

    box = padded_bbox(where, CORNER_PAD)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    pts = cv2.goodFeaturesToTrack(np.ascontiguousarray(gray[y0:y1, x0:x1]), MAX_CORNERS, 0.01,
                                  CORNER_SPACING, mask=np.ascontiguousarray(where[y0:y1, x0:x1]))
    if pts is not None:
        pts += np.array([x0, y0], np.float32)
    return pts


def _region_now(c: _Carried, size: tuple[int, int]
                ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Where a carried item is on the previous frame: its box, and in it (uint8) the pixels
    whose corners follow it."""
    import cv2

    h, w = size
    bx = c.moved_box()
    x0, y0 = max(int(np.floor(bx[0])), 0), max(int(np.floor(bx[1])), 0)
    x1, y1 = min(int(np.ceil(bx[2])), w), min(int(np.ceil(bx[3])), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    if c.mask is None:
        # The box's middle: its corners are background more often than not.
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        qx, qy = (x1 - x0) // 4, (y1 - y0) // 8
        m[qy:y1 - y0 - qy, qx:x1 - x0 - qx] = 1
        return (x0, y0, x1, y1), m
    dx, dy = int(round(float(c.offset[0]))), int(round(float(c.offset[1])))
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    sx0, sy0 = max(x0 - dx, 0), max(y0 - dy, 0)
    sx1, sy1 = min(x1 - dx, w), min(y1 - dy, h)
    if sx1 > sx0 and sy1 > sy0:
        m[sy0 + dy - y0:sy1 + dy - y0, sx0 + dx - x0:sx1 + dx - x0] = c.mask[sy0:sy1, sx0:sx1]
    # The mask's inside only: masks are grown into the background (a walker beside a lamp
    # post kept the post's corners, and the median shift stayed at 0 while he walked on).
    k = max(1, int(INSIDE * (x1 - x0)))
    inner = cv2.erode(m, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return (x0, y0, x1, y1), inner if inner.sum() >= 4 * MIN_POINTS else m


def _moved_mask(mask: np.ndarray, offset: np.ndarray, grow: int) -> np.ndarray:
    """``mask`` shifted by ``offset`` (rounded to pixels) and grown by ``grow`` pixels. Where
    the mask touches the frame's border the person goes on beyond it: moved inwards, the
    border's row or column is repeated into the gap (a walker entering at the right edge
    shows more of himself each frame; his keyframe mask is only the sliver then in view)."""
    import cv2

    h, w = mask.shape
    out = np.zeros((h, w), bool)
    box = mask_bbox(mask)
    if box is None:
        return out
    dx, dy = int(round(float(offset[0]))), int(round(float(offset[1])))
    x0, y0, x1, y1 = box
    # Work on the mask's bounding box, padded by the growth (and by the shift on a side that
    # touches the border), at its new place.
    left = grow + (max(dx, 0) if x0 == 0 else 0)
    right = grow + (max(-dx, 0) if x1 == w else 0)
    top = grow + (max(dy, 0) if y0 == 0 else 0)
    bottom = grow + (max(-dy, 0) if y1 == h else 0)
    crop = np.zeros((y1 - y0 + top + bottom, x1 - x0 + left + right), np.uint8)
    crop[top:top + y1 - y0, left:left + x1 - x0] = mask[y0:y1, x0:x1]
    if x0 == 0 and dx > 0:
        crop[top:top + y1 - y0, left - dx:left] = crop[top:top + y1 - y0, left:left + 1]
    if x1 == w and dx < 0:
        edge = left + x1 - x0
        crop[top:top + y1 - y0, edge:edge - dx] = crop[top:top + y1 - y0, edge - 1:edge]
    if y0 == 0 and dy > 0:
        crop[top - dy:top, :] = crop[top:top + 1, :]
    if y1 == h and dy < 0:
        edge = top + y1 - y0
        crop[edge:edge - dy, :] = crop[edge - 1:edge, :]
    if grow > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        crop = cv2.dilate(crop, k)
    ty0, tx0 = y0 - top + dy, x0 - left + dx  # where the crop's corner lands
    cy0, cx0 = max(ty0, 0), max(tx0, 0)
    cy1, cx1 = min(ty0 + crop.shape[0], h), min(tx0 + crop.shape[1], w)
    if cy1 > cy0 and cx1 > cx0:
        out[cy0:cy1, cx0:cx1] = crop[cy0 - ty0:cy1 - ty0, cx0 - tx0:cx1 - tx0] > 0
    return out


def _moved_face(face: Face, offset: np.ndarray, size: tuple[int, int]) -> Face | None:
    box = _clip(face.box + np.tile(offset, 2), size)
    if box is None:
        return None
    lm = moved_points(face.landmarks, offset)
    return dataclasses.replace(face, box=box, landmarks=lm, track_id=None, interpolated=False)


def _clip(box: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """``box`` clipped to the frame, or None when under 2 px of it is in view."""
    out = clip_box(box, size)
    if out[2] - out[0] < 2 or out[3] - out[1] < 2:
        return None
    return out


def _inside_union(box: np.ndarray, boxes: list[np.ndarray], size: tuple[int, int]) -> float:
    """Share of ``box``'s area inside the union of ``boxes``."""
    h, w = size
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x1 <= x0 or y1 <= y0:
        return 1.0  # nothing of it in view
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for b in boxes:
        bx0, by0 = max(int(b[0]) - x0, 0), max(int(b[1]) - y0, 0)
        bx1, by1 = min(int(np.ceil(b[2])) - x0, x1 - x0), min(int(np.ceil(b[3])) - y0, y1 - y0)
        if bx1 > bx0 and by1 > by0:
            inside[by0:by1, bx0:bx1] = True
    return float(inside.mean())


def _moving_outside(prev: np.ndarray, gray: np.ndarray, scene: Scene, min_px: int) -> bool:
    """Whether pixels changed between ``prev`` and ``gray`` in one blob of at least ``min_px``
    (full-size pixels) outside every person's box and face of ``scene``. A walker's change is
    mostly the edges of their clothes and limbs, in pieces: neighbouring pieces (within 2 px
    at half size) count as one blob."""
    import cv2

    h, w = gray.shape
    small = (w // 2, h // 2)
    a = cv2.resize(prev, small, interpolation=cv2.INTER_AREA)
    b = cv2.resize(gray, small, interpolation=cv2.INTER_AREA)
    moved = (cv2.absdiff(a, b) > MOTION_LEVEL).astype(np.uint8)
    for item in [*scene.people, *scene.faces]:
        x0, y0, x1, y1 = [int(v) // 2 for v in item.box]
        moved[max(y0 - 2, 0):y1 + 3, max(x0 - 2, 0):x1 + 3] = 0
    if moved.sum() * 4 < min_px:
        return False
    joined = cv2.dilate(moved, np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    # Moving pixels (not the joined area) per blob.
    area = np.bincount(labels[moved > 0], minlength=n)[1:]
    return bool(len(area) and area.max() * 4 >= min_px)
