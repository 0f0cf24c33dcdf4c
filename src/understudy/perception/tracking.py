"""Track people and faces across video frames and fill the detector's gaps.

Detectors miss a face for a frame or two all the time, and a face that flashes through single
frames unblurred is the most-reported failure of today's face-blurring tools. So:

* each person and face is associated with the tracks of the frames before it (greedy by IoU,
  then by centre distance for fast motion, no farther than a person walks in the frames
  since: ``Tracker._plausible_move``), and gets a ``track_id``;
* a track missed for up to ``max_gap`` frames and found again is filled on the missing frames
  with a linearly interpolated box (masks are the nearer observation's mask moved and scaled
  with the box; keypoints interpolated), marked ``interpolated=True``;
* a track is also held for ``hold`` frames before its first and after its last detection
  (last box): a face the detector only picks up late, or loses early, is still covered.
  Over-covering a few frames is the fail-closed side. A held person is ``uncertain`` (masked)
  unless their track is sure (below). A track that is not sure is filled from the frames on
  which it stood on its own only: a weak find inside a sure person's box is a second find of
  them (``duplicate_host``; the perceiver folds it into them) and anchors no fill. Weak
  second finds of three walkers on frames 1, 7 and 13 of a street clip were linked into one
  track, and the boxes interpolated between them drifted over the pavement between the
  walkers, masked black on 10 frames;
* a track is one person through the clip, so the evidence of its best frames holds on its
  weak ones: every person gets ``track_score``, the best detector score along the track, and
  the perceiver's uncertain threshold reads it. A walker the detector scores 0.6 on most
  frames and 0.3 on a few stays one sure person instead of blinking between a stand-in and a
  black silhouette (issue 20: 78 of 81 masked person-frames on a street clip were such
  weak frames of sure tracks). The residual guard's find of a sure person's pixels, on a gap
  between two of their detections, is them as well (``Tracker._bridges``);
* a person walking out of the frame is lost by every detector while a sliver of them is still
  in view (a walker on a street clip, 11 px of him, three frames after his last detection),
  and one walking in is found only once most of them is in. A person track that ends (or
  begins) at the frame's edge, moving out through it (or in), is carried on past its end (or
  before its beginning) at its measured speed, its mask and landmarks moved with it, for as
  long as any of the box is still in view (at most the stream's look-ahead);
* a person seen without a usable pose (the landmark models found none on this frame, or none
  that can orient a body: small, blurred, turned away, walking out of view) borrows the pose of the nearest frames of their track that have one,
  interpolated and moved with the box, marked ``pose_from_track``, so a stand-in method can
  keep their stand-in instead of masking them for a frame.

The stream holds ``max(max_gap, hold, confirm_window)`` frames back to know whether a track
comes back and whether it is sure.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from understudy.errors import UsageError
from understudy.perception.assemble import assign_faces
from understudy.perception.pose import MIN_LANDMARK_SPAN, landmark_span
from understudy.perception.posture import upside_down
from understudy.regions import box_iou, inside_share, moved_points
from understudy.scene import Face, Person, Scene


# Shoulders or hips seen at least this well orient a body (as in body.fit.check_landmarks).
ORIENT_VISIBILITY = 0.2
# Two poses of a person on neighbouring frames are one when their landmarks lie this close
# (median, share of the box's height). A walker's own pose from frame to frame on street
# clips: median 0.03-0.05, 90th percentile 0.07-0.15; upside down, 0.5-0.64.
SAME_POSE_SHARE = 0.2
# A box within this many pixels of the frame's border touches it.
EDGE_PX = 2.0
# Speed through the edge is measured over the last (or first) few detections of the track, at
# least SPEED_MIN_FRAMES of them: from two, a walker entering on the right of a street clip
# (vtest 421-424: -7 px a frame) measured -1 px a frame, the edge's jitter of his cut box,
# and was carried in over empty pavement nine frames before he came into view, masked black.
SPEED_FRAMES, SPEED_MIN_FRAMES = 4, 3
# Slower than this (px per frame) through the edge is standing at it, not leaving.
MIN_SPEED = 1.0
# Matched by distance (no overlap), two boxes are one person only if neither is this many
# times the other's height: the shift allowed grows with the box, and a walker's large box
# entering at the bottom of a street clip took a 20 px traffic cone 300 px away six frames
# later as its next detection (its mask swept across the frame on the frames between).
MAX_SIZE_RATIO = 2.0
# A weak person whose box lies this much inside a sure person's box is a second find of that
# person (a detector's box around a standing man's head and shoulders, 0.26): the perceiver
# folds their pixels into the sure person's region (``merge_weak_duplicates``), and such a
# find anchors no gap filling of a track that is not sure (``Tracker._fill``).
DUPLICATE_INSIDE = 0.7


@dataclass
class TrackingOptions:
    max_gap: int = 5  # frames a track may be missed and still be filled in
    hold: int = 2  # frames a track is extended before its first and after its last detection
    min_iou: float = 0.2  # association by overlap
    max_centre_shift: float = 0.75  # else by centre distance, in box diagonals per frame
    # A person matched by distance moved at most ``person_slack + person_speed * gap`` of
    # their height (``Tracker._plausible_move``): the per-frame shift above, times a gap of
    # five frames, let a walker's track jump 188 px to a face at a car's boot (vtest 707),
    # and the gap fill flew his stand-in across the road between them.
    person_slack: float = 0.5
    person_speed: float = 0.2
    # A track with a detection scoring at least this is a sure person on all its frames (the
    # perceiver passes its uncertain threshold).
    sure_score: float = 0.5
    # Frames looked ahead for a track's sure detection: a walker who enters weak and is scored
    # sure a few frames later is sure from the first frame (vtest: up to 8 frames late).
    confirm_window: int = 10
    # Landmarks are averaged over this many measured frames each side (0: off).
    smooth: int = 1

    def __post_init__(self) -> None:
        if self.max_gap < 0 or self.hold < 0 or self.confirm_window < 0:
            raise UsageError(f"max_gap, hold and confirm_window must be >= 0 frames, got "
                             f"{self.max_gap}, {self.hold}, {self.confirm_window}")
        if not 0 < self.min_iou <= 1:
            raise UsageError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if self.person_slack < 0 or self.person_speed < 0:
            raise UsageError(f"person_slack and person_speed must be >= 0, got "
                             f"{self.person_slack}, {self.person_speed}")


@dataclass
class _Track:
    id: int
    kind: str
    seen: dict[int, Face | Person] = field(default_factory=dict)  # frame number -> observation
    # The best detector score of the whole track: ``seen`` forgets old frames (memory stays
    # flat), and a walker sure for 40 frames then scored 0.4-0.46 was masked from then on.
    best: float | None = None
    # frame number -> (2D, 3D landmarks, box) as measured, before any smoothing or borrowing
    poses: dict[int, tuple[np.ndarray, np.ndarray | None, np.ndarray]] = field(
        default_factory=dict)
    # Frames on which the observation was a weak second find of a sure person.
    second: set[int] = field(default_factory=set)
    # A face track's frames -> the person track whose head the face was on.
    owners: dict[int, int] = field(default_factory=dict)

    def observe(self, n: int, item: Face | Person, second: bool = False,
                owner: int | None = None) -> None:
        self.seen[n] = item
        if owner is not None:
            self.owners[n] = owner
        if second:
            self.second.add(n)
        if not getattr(item, "uncertain", False) and not item.interpolated:
            self.best = item.score if self.best is None else max(self.best, item.score)
        if isinstance(item, Person) and _orientable(item) and _spans_body(item) \
                and _upright(item):
            k3 = None if item.keypoints3d is None else np.array(item.keypoints3d, copy=True)
            self.poses[n] = (np.array(item.keypoints2d, copy=True), k3,
                             np.array(item.box, np.float32, copy=True))

    @property
    def last(self) -> int:
        return max(self.seen)


class Tracker:
    """``tracker.run(scenes) -> scenes`` with track ids and gap-filled people and faces."""

    def __init__(self, options: TrackingOptions | None = None):
        self.options = options or TrackingOptions()
        self._next_id = 0

    def run(self, scenes: Iterable[Scene]) -> Iterator[Scene]:
        delay = self._delay
        tracks: dict[str, list[_Track]] = {"person": [], "face": []}
        buffer: deque[tuple[int, Scene]] = deque()
        n = -1
        for n, scene in enumerate(scenes):
            self._associate(n, scene.people, tracks["person"], "person", scene.frame.size)
            owners = {id(f): p.track_id for p in scene.people for f in p.faces}
            self._associate(n, scene.faces, tracks["face"], "face", scene.frame.size, owners)
            buffer.append((n, scene))
            while buffer and buffer[0][0] <= n - delay:
                t, old = buffer.popleft()
                yield self._fill(t, old, tracks, n)
            # Forget what can no longer touch a buffered frame: memory stays flat on long videos.
            horizon = n - 2 * delay - 2
            for kind in tracks:
                tracks[kind] = [tr for tr in tracks[kind] if tr.last > horizon]
                for tr in tracks[kind]:
                    for f in [f for f in tr.seen if f < horizon]:
                        del tr.seen[f]
                        tr.poses.pop(f, None)
                        tr.second.discard(f)
                        tr.owners.pop(f, None)
        while buffer:
            t, old = buffer.popleft()
            yield self._fill(t, old, tracks, n)

    def _associate(self, n: int, items: list, tracks: list[_Track], kind: str,
                   size: tuple[int, int], owners: dict[int, int | None] | None = None
                   ) -> None:
        """Give ``items`` (this frame's people or faces) the tracks they continue.

        ``owners``: for faces, the person track whose head each face is on (by ``id``). A
        face continues the face track of the same person's head before any other: a walker's
        small face moved 13 px a frame, most of its diagonal, so each find started a track of
        its own, held still for two frames each side; away from him on the pavement, the held
        faces were stray faces (vtest 655-659: black discs beside his stand-in)."""
        owners = owners or {}
        live = [tr for tr in tracks if n - tr.last <= self.options.max_gap + 1]
        # A person who walked out through the edge is only where their carried box is: a
        # newcomer elsewhere is someone else (on a street clip the track of a man who left on
        # the right jumped to a walker 70 px inside the frame, and his mask went with it).
        gone = {}
        if kind == "person":
            for j, tr in enumerate(live):
                if n - tr.last > 1 and _edge_motion(tr, tr.last, True, size) is not None:
                    carried = _through_edge(tr, tr.last, n, size)
                    gone[j] = None if carried is None else carried.box
        pairs = []
        second = set()
        if kind == "person":
            sure = [p for p in items if not p.uncertain and p.score >= self.options.sure_score]
            second = {i for i, p in enumerate(items) if p.score < self.options.sure_score
                      and duplicate_host(p, sure) is not None}
        for i, item in enumerate(items):
            for j, tr in enumerate(live):
                if j in gone:
                    iou = 0.0 if gone[j] is None else box_iou(item.box, gone[j])
                    if iou >= self.options.min_iou:
                        pairs.append((1.0 - iou, i, j))
                    continue
                prev = tr.seen[tr.last]
                iou = box_iou(item.box, prev.box)
                owner = owners.get(id(item))
                if owner is not None and tr.owners.get(tr.last) == owner:
                    # Before every other pair; the nearer of the person's faces first.
                    pairs.append((-1.0 / (1.0 + _centre_shift(item.box, prev.box)), i, j))
                elif iou >= self.options.min_iou:
                    pairs.append((1.0 - iou, i, j))
                elif _similar_size(item.box, prev.box):
                    # After a gap the person may have moved further: allow a shift per frame.
                    shift = _centre_shift(item.box, prev.box) / (n - tr.last)
                    if shift <= self.options.max_centre_shift and (
                            kind == "face" or self._plausible_move(prev.box, item.box,
                                                                   n - tr.last)):
                        pairs.append((1.0 + shift, i, j))
        used_items, used_tracks = set(), set()
        for _, i, j in sorted(pairs):
            if i in used_items or j in used_tracks:
                continue
            used_items.add(i)
            used_tracks.add(j)
            items[i].track_id = live[j].id
            live[j].observe(n, items[i], i in second, owners.get(id(items[i])))
        for i, item in enumerate(items):
            if i not in used_items:
                track = _Track(self._new_id(), kind)
                track.observe(n, item, i in second, owners.get(id(item)))
                item.track_id = track.id
                tracks.append(track)

    def _plausible_move(self, a: np.ndarray, b: np.ndarray, frames: int) -> bool:
        """Whether one person could have moved from box ``a`` to box ``b`` in ``frames``
        frames: by ``person_slack`` of their height at once (two detectors box one person
        differently; a face's seed box is not the body's) and ``person_speed`` a frame.
        The jumps this refuses on the street clips were 0.8-3.2 heights over gaps of 1-6
        frames, from one walker to another, to a face or to a traffic cone."""
        height = max(float(a[3] - a[1]), float(b[3] - b[1]), 1.0)
        o = self.options
        return _centre_distance(a, b) <= height * (o.person_slack + o.person_speed * frames)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _fill(self, t: int, scene: Scene, tracks: dict[str, list[_Track]], newest: int) -> Scene:
        """Add the tracked people and faces the detector missed on frame ``t``."""
        size = scene.frame.size
        for kind, items in (("person", scene.people), ("face", scene.faces)):
            for tr in tracks[kind]:
                if t in tr.seen:
                    continue
                anchors = tr.seen if self._sure(tr, kind) else \
                    [f for f in tr.seen if f not in tr.second]
                before = [f for f in anchors if f < t]
                after = [f for f in anchors if f > t]
                a = max(before) if before else None
                b = min(after) if after else None
                if a is not None and b is not None and b - a - 1 <= self.options.max_gap:
                    w = (t - a) / (b - a)
                    items.append(_interpolate(tr.seen[a], tr.seen[b], w, size))
                    continue
                if (a is None) == (b is None):
                    continue  # between two finds too far apart, or none at all
                anchor = a if b is None else b  # the track's one end near this frame
                if abs(t - anchor) <= self.options.hold:
                    held = _held(tr.seen[anchor], self._sure(tr, kind))
                    if kind == "face":
                        held = _with_owner(held, tr.owners.get(anchor), anchor, scene.people,
                                           tracks["person"])
                    items.append(held)
                elif kind == "person" and abs(t - anchor) <= self._delay:
                    carried = _through_edge(tr, anchor, t, size)
                    if carried is not None:
                        items.append(_held(carried, self._sure(tr, kind)))
        by_id = {tr.id: tr for tr in tracks["person"]}
        for person in scene.people:
            track = by_id.get(person.track_id)
            if track is None:
                continue
            person.track_score = _best_score(track)
            measured = t in track.poses and track.seen.get(t) is person
            if measured and _pose_outlier(person, t, track):
                _borrow_pose(person, t, track, self._delay)
            elif measured:
                _smooth_pose(person, t, track, self.options.smooth)
            elif _needs_pose(person):
                _borrow_pose(person, t, track, self._delay)
            if person.source == "residual" and person.uncertain and person.pose_from_track \
                    and self._bridges(track, t):
                person.uncertain = False
        # A face filled in here belongs to whoever's head it is at, as a detected one does;
        # else people mode blurs it as a stray face over that person's stand-in (a blurred
        # square on a walker's head on vtest 512-514, where his face was found on 513 only).
        owned = {id(f) for p in scene.people for f in p.faces}
        filled = [f for f in scene.faces if f.interpolated and id(f) not in owned]
        if filled and scene.people:
            assign_faces(scene.people, filled)
        return scene

    @property
    def _delay(self) -> int:
        """Frames held back: enough to bridge a gap, hold an end, confirm a track, and
        borrow a pose from a frame that far ahead."""
        o = self.options
        return max(o.max_gap, o.hold, o.confirm_window)

    def _bridges(self, track: _Track, t: int) -> bool:
        """Whether frame ``t`` lies in a gap of at most ``max_gap`` frames between two
        detections of a sure person ``track`` (boxes of the detectors, not second finds):
        what perception found there on its own is that person. At vtest 106 the detectors
        lost a walker for one frame and the residual guard found his pixels (uncertain, for
        want of a pose of their own): he blinked from his stand-in to black and back, where
        with no find at all the gap fill would have kept his stand-in."""
        if not self._sure(track, "person"):
            return False

        def vouching(f: int) -> bool:
            seen = track.seen[f]
            return not (seen.uncertain or seen.interpolated or f in track.second
                        or seen.source == "residual")

        before = [f for f in track.seen if f < t and vouching(f)]
        after = [f for f in track.seen if f > t and vouching(f)]
        return bool(before and after and min(after) - max(before) - 1 <= self.options.max_gap)

    def _sure(self, track: _Track, kind: str) -> bool:
        if kind == "face":
            return True  # a held face is blurred like any other: nothing to be sure of
        best = _best_score(track)
        return best is not None and best >= self.options.sure_score


def duplicate_host(person: Person, sure: list[Person]) -> Person | None:
    """The person of ``sure`` whose box holds ``DUPLICATE_INSIDE`` of ``person``'s box (the
    one that holds most), or None."""
    host = max((s for s in sure if s is not person),
               key=lambda s: inside_share(person.box, s.box), default=None)
    if host is None or inside_share(person.box, host.box) < DUPLICATE_INSIDE:
        return None
    return host


def _best_score(track: _Track) -> float | None:
    """The best detector score along a person's track, all of it so far (frames ahead
    within the look-ahead included); detections that perception itself marked uncertain (a
    crowd region, a residual without pose) are no evidence."""
    return track.best


def _borrow_pose(person: Person, t: int, track: _Track, window: int) -> None:
    """Give ``person`` (seen on frame ``t`` without landmarks) the pose of the nearest frames
    of their track that have one, within ``window`` frames: both sides interpolated, one side
    held; landmarks are moved with the box (2D) or kept (3D, metres about the hips). A stand-in
    in a pose a second old is better than a black figure blinking in (issue 20). Only measured
    poses lend (``track.poses``), never borrowed or smoothed ones."""
    def posed(frames):
        return [f for f in frames if abs(f - t) <= window and f in track.poses
                and track.seen[f].keypoint_format == person.keypoint_format]

    before = posed(f for f in track.seen if f < t)
    after = posed(f for f in track.seen if f > t)
    if not before and not after:
        return
    frames = ([max(before)] if before else []) + ([min(after)] if after else [])
    if len(frames) == 2:
        fa, fb = frames
        weights = [(fb - t) / (fb - fa), (t - fa) / (fb - fa)]
    else:
        weights = [1.0]
    poses = [track.poses[f] for f in frames]
    person.keypoints2d = np.asarray(sum(w * _in_box(k2, box, person.box)
                                        for w, (k2, _, box) in zip(weights, poses)), np.float32)
    if all(k3 is not None for _, k3, _ in poses):
        person.keypoints3d = np.asarray(sum(w * k3 for w, (_, k3, _) in zip(weights, poses)),
                                        np.float32)
    seen = [track.seen[f] for f in frames]
    if person.keypoints_coco17 is None and all(o.keypoints_coco17 is not None for o in seen):
        person.keypoints_coco17 = np.asarray(sum(
            w * _in_box(o.keypoints_coco17, o.box, person.box)
            for w, o in zip(weights, seen)), np.float32)
    person.pose_from_track = True


def _smooth_pose(person: Person, t: int, track: _Track, radius: int) -> None:
    """Average the measured landmarks of frames ``t - radius .. t + radius`` of the track
    (moved into this frame's box; this frame counts twice), keeping this frame's visibility:
    a stand-in fitted frame by frame to raw landmarks jitters, MediaPipe's landmarks of a
    small walker moving by a few pixels from frame to frame for no reason. Only poses like
    this frame's are averaged (``_same_pose``): a 45 px walker's pose upside down on one
    frame (vtest 151), averaged into its neighbours, folded them to a twelfth of his height."""
    if radius <= 0:
        return
    own2d, own3d, _ = track.poses[t]
    frames = [f for f in range(t - radius, t + radius + 1) if f != t and f in track.poses
              and _same_pose(own2d, _in_box(track.poses[f][0], track.poses[f][2], person.box),
                             person.box)]
    if not frames:
        return
    k2 = 2.0 * own2d[:, :2]
    k3 = None if own3d is None else 2.0 * own3d[:, :3]
    used3d = 2.0
    for f in frames:
        n2d, n3d, box = track.poses[f]
        k2 = k2 + _in_box(n2d, box, person.box)[:, :2]
        if k3 is not None and n3d is not None:
            k3, used3d = k3 + n3d[:, :3], used3d + 1.0
    smoothed = np.array(own2d, np.float32, copy=True)
    smoothed[:, :2] = k2 / (2.0 + len(frames))
    person.keypoints2d = smoothed
    if k3 is not None:
        smoothed3 = np.array(own3d, np.float32, copy=True)
        smoothed3[:, :3] = k3 / used3d
        person.keypoints3d = smoothed3


def _pose_outlier(person: Person, t: int, track: _Track) -> bool:
    """Whether the pose measured on frame ``t`` is unlike the poses of the frames just before
    and after it, which are like each other: a pose estimate gone wrong for a frame (MediaPipe
    turned a small walker upside down), to be replaced by theirs (``_borrow_pose``)."""
    if t - 1 not in track.poses or t + 1 not in track.poses:
        return False
    own = track.poses[t][0]
    before, after = (_in_box(track.poses[f][0], track.poses[f][2], person.box)
                     for f in (t - 1, t + 1))
    return (_same_pose(before, after, person.box) and not _same_pose(own, before, person.box)
            and not _same_pose(own, after, person.box))


def _same_pose(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> bool:
    """Whether two sets of landmarks in one box are one pose: their median distance within
    ``SAME_POSE_SHARE`` of the box's height."""
    distance = np.median(np.linalg.norm(np.asarray(a)[:, :2] - np.asarray(b)[:, :2], axis=1))
    return bool(distance <= SAME_POSE_SHARE * max(float(box[3] - box[1]), 1.0))


def _needs_pose(person: Person) -> bool:
    """Whether the person has no pose a stand-in can follow, so their track's serves: no
    landmarks that orient a body, or landmarks spanning under ``MIN_LANDMARK_SPAN`` of their
    box (a part or someone else, which RefSD refuses) and no MoveNet keypoints for RefSD to
    fall back on (a 45 px walker at vtest 150 was masked for that). With those keypoints the
    fallback is kept: a pose borrowed from a track's neighbouring frames turned a man in a
    group (vtest 60) into a stand-in lying on its side where MoveNet's had him upright. So for
    landmarks upside down (RefSD refuses them too)."""
    if not _orientable(person):
        return True
    return (not _spans_body(person) or not _upright(person)) and person.keypoints_coco17 is None


def _spans_body(person: Person) -> bool:
    """Whether the person's landmarks span ``MIN_LANDMARK_SPAN`` of their box (RefSD's test)."""
    return landmark_span(person.keypoints2d, person.box) >= MIN_LANDMARK_SPAN


def _upright(person: Person) -> bool:
    """Whether the person's landmarks have the head above the hips (``posture.upside_down``),
    so the track may lend them. MediaPipe turned a woman walking behind a man upside down at
    vtest frame 759; lent to her next frames, it stood her stand-in on its head for five
    frames."""
    return not upside_down(person.keypoints2d, person.box)


def _orientable(person: Person) -> bool:
    """Whether the person's landmarks can orient a body: shoulders or hips seen (the rule of
    ``understudy.body.fit.check_landmarks``). A person walking out of view keeps landmarks
    MediaPipe can barely see; their track's earlier pose serves better."""
    k = person.keypoints2d
    if k is None or np.shape(k) != (33, 3) or person.keypoint_format != "mediapipe33":
        return False
    k3 = person.keypoints3d
    vis = k[:, 2] if k3 is None or np.shape(k3) != (33, 4) else np.minimum(k[:, 2], k3[:, 3])
    return bool(min(vis[11], vis[12]) >= ORIENT_VISIBILITY or
                min(vis[23], vis[24]) >= ORIENT_VISIBILITY)


def _in_box(points: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Image keypoints ``(N, >=2)`` moved and scaled from box ``src`` to box ``dst``; the
    remaining columns (visibility, score) are kept."""
    out = np.array(points, np.float32, copy=True)
    sx = (dst[2] - dst[0]) / max(float(src[2] - src[0]), 1e-6)
    sy = (dst[3] - dst[1]) / max(float(src[3] - src[1]), 1e-6)
    out[:, 0] = dst[0] + (out[:, 0] - src[0]) * sx
    out[:, 1] = dst[1] + (out[:, 1] - src[1]) * sy
    return out


def _interpolate(a, b, w: float, size: tuple[int, int]):
    box = ((1 - w) * np.asarray(a.box, np.float32) + w * np.asarray(b.box, np.float32))
    near = a if w <= 0.5 else b
    if isinstance(a, Face):
        lm = None
        if a.landmarks is not None and b.landmarks is not None:
            lm = ((1 - w) * a.landmarks + w * b.landmarks).astype(np.float32)
        return Face(box=box.astype(np.float32), score=min(a.score, b.score), landmarks=lm,
                    track_id=a.track_id, interpolated=True)
    mask = _move_mask(near.mask, near.box, box, size) if near.mask is not None else None
    k2 = k3 = None
    if a.keypoints2d is not None and b.keypoints2d is not None:
        k2 = ((1 - w) * a.keypoints2d + w * b.keypoints2d).astype(np.float32)
    if a.keypoints3d is not None and b.keypoints3d is not None:
        k3 = ((1 - w) * a.keypoints3d + w * b.keypoints3d).astype(np.float32)
    kc = None  # MoveNet's keypoints, RefSD's pose fallback
    if a.keypoints_coco17 is not None and b.keypoints_coco17 is not None:
        kc = ((1 - w) * a.keypoints_coco17 + w * b.keypoints_coco17).astype(np.float32)
    return Person(box=box.astype(np.float32), score=min(a.score, b.score), mask=mask,
                  keypoints2d=k2, keypoints3d=k3, keypoint_format=near.keypoint_format,
                  faces=[], track_id=a.track_id, uncertain=a.uncertain or b.uncertain,
                  interpolated=True, annotation_id=near.annotation_id,
                  attributes=dict(near.attributes), source=near.source,
                  keypoints_coco17=kc)


def _held(item, sure: bool):
    """The observation repeated on a frame without evidence: covered, and masked (uncertain)
    unless its track is ``sure`` (then a stand-in method keeps the stand-in there)."""
    if isinstance(item, Face):
        return replace(item, interpolated=True)
    return replace(item, faces=[], interpolated=True, uncertain=item.uncertain or not sure)


def _with_owner(face: Face, owner: int | None, anchor: int, people: list[Person],
                person_tracks: list[_Track]) -> Face:
    """A face held from frame ``anchor`` moved as the person whose head it was on has moved
    since (their box on this frame, ``people``, against their detection then); else as it
    was."""
    if owner is None:
        return face
    now = next((p for p in people if p.track_id == owner), None)
    track = next((tr for tr in person_tracks if tr.id == owner), None)
    then = track.seen.get(anchor) if track is not None else None
    if now is None or then is None:
        return face
    dx = float(now.box[0] + now.box[2] - then.box[0] - then.box[2]) / 2
    dy = float(now.box[1] + now.box[3] - then.box[1] - then.box[3]) / 2
    shift = np.array([dx, dy], np.float32)
    return replace(face, box=np.asarray(face.box, np.float32) + np.tile(shift, 2),
                   landmarks=moved_points(face.landmarks, shift))


def _edge_motion(track: _Track, anchor: int, after: bool, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(full box, (dx, dy) px per frame)`` when the track's detection on frame ``anchor``
    touches the frame's edge and the track moves out through it (``after``: past its last
    detection) or in (before its first); else None. The box is the person's whole size (their
    widest and tallest box near the anchor), reaching beyond the frame."""
    h, w = size
    seen = sorted(f for f in track.seen if not track.seen[f].interpolated)
    side = [f for f in seen if (f <= anchor if after else f >= anchor)]
    near = side[-SPEED_FRAMES:] if after else side[:SPEED_FRAMES]
    if len(near) < SPEED_MIN_FRAMES or anchor not in track.seen:
        return None
    boxes = {f: np.asarray(track.seen[f].box, np.float64) for f in near}
    first, last = min(near), max(near)
    step = (boxes[last] - boxes[first]) / (last - first)  # px per frame, each box side
    x0, y0, x1, y1 = np.asarray(track.seen[anchor].box, np.float64)
    # A box cut by the edge moves with its other side; the person keeps their full size.
    width = max(b[2] - b[0] for b in boxes.values())
    height = max(b[3] - b[1] for b in boxes.values())
    direction = 1.0 if after else -1.0
    dx = dy = 0.0
    full = np.array([x0, y0, x1, y1])
    if x1 >= w - EDGE_PX and direction * step[0] >= MIN_SPEED:  # through the right edge
        dx, full[2] = step[0], x0 + width
    elif x0 <= EDGE_PX and direction * step[2] <= -MIN_SPEED:  # the left edge
        dx, full[0] = step[2], x1 - width
    if y1 >= h - EDGE_PX and direction * step[1] >= MIN_SPEED:  # the bottom edge
        dy, full[3] = step[1], y0 + height
    elif y0 <= EDGE_PX and direction * step[3] <= -MIN_SPEED:  # the top edge
        dy, full[1] = step[3], y1 - height
    if dx == 0.0 and dy == 0.0:
        return None
    return full, np.array([dx, dy])


def _through_edge(track: _Track, anchor: int, t: int, size: tuple[int, int]) -> Person | None:
    """The track's person on frame ``t``, beyond its last (or before its first) detection
    ``anchor``, when they move out (or in) through the frame's edge (``_edge_motion``): moved
    at the track's speed, clipped to the frame; None when they do not, or once nothing of
    them is in view."""
    motion = _edge_motion(track, anchor, t > anchor, size)
    if motion is None:
        return None
    h, w = size
    full, (dx, dy) = motion
    shift = np.array([dx, dy, dx, dy]) * (t - anchor)
    moved = full + shift
    box = np.array([max(moved[0], 0.0), max(moved[1], 0.0), min(moved[2], float(w)),
                    min(moved[3], float(h))], np.float32)
    if box[2] - box[0] < EDGE_PX or box[3] - box[1] < EDGE_PX:
        return None  # gone
    offset = np.array([dx, dy], np.float32) * (t - anchor)
    item = track.seen[anchor]
    src = np.asarray(item.box, np.float32)
    mask = None if item.mask is None else _move_mask(item.mask, src, src + shift.astype(
        np.float32), size)
    if mask is not None and not mask.any():
        mask = None  # the moved mask left the frame before the box: the box covers
    return replace(item, box=box, mask=mask, keypoints2d=moved_points(item.keypoints2d, offset),
                   keypoints_coco17=moved_points(item.keypoints_coco17, offset))


def _move_mask(mask: np.ndarray, src: np.ndarray, dst: np.ndarray,
               size: tuple[int, int]) -> np.ndarray:
    """Move and scale a mask from box ``src`` to box ``dst``."""
    import cv2

    sx = (dst[2] - dst[0]) / max(float(src[2] - src[0]), 1e-6)
    sy = (dst[3] - dst[1]) / max(float(src[3] - src[1]), 1e-6)
    m = np.array([[sx, 0, dst[0] - sx * src[0]], [0, sy, dst[1] - sy * src[1]]], np.float32)
    h, w = size
    moved = cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return moved.astype(bool)


def _similar_size(a: np.ndarray, b: np.ndarray) -> bool:
    """Neither box is ``MAX_SIZE_RATIO`` times the other's height or width (a weak 630 px
    wide box across a street clip took a walker's track, and his 0.98, by distance)."""
    for lo, hi in ((1, 3), (0, 2)):
        da, db = max(float(a[hi] - a[lo]), 1.0), max(float(b[hi] - b[lo]), 1.0)
        if max(da / db, db / da) > MAX_SIZE_RATIO:
            return False
    return True


def _centre_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Pixels between the centres of two boxes."""
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def _centre_shift(a: np.ndarray, b: np.ndarray) -> float:
    """The distance between the centres of two boxes, in diagonals of ``b``."""
    return _centre_distance(a, b) / max(float(np.hypot(b[2] - b[0], b[3] - b[1])), 1.0)
