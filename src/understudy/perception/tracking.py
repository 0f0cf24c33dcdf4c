"""Track people and faces across video frames and fill the detector's gaps.

Detectors miss a face for a frame or two all the time, and a face that flashes through single
frames unblurred is the most-reported failure of today's face-blurring tools. So:

* each person and face is associated with the tracks of the frames before it (greedy by IoU,
  then by centre distance for fast motion), and gets a ``track_id``;
* a track missed for up to ``max_gap`` frames and found again is filled on the missing frames
  with a linearly interpolated box (masks are the nearer observation's mask moved and scaled
  with the box; keypoints interpolated), marked ``interpolated=True``;
* a track is also held for ``hold`` frames before its first and after its last detection
  (last box, ``uncertain`` so the guard masks it): a face the detector only picks up late, or
  loses early, is still covered. Over-covering a few frames is the fail-closed side.

The stream holds ``max_gap`` frames back (``max(max_gap, hold)`` in general) to know whether a
track comes back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from understudy.errors import UsageError
from understudy.scene import Face, Person, Scene


@dataclass
class TrackingOptions:
    max_gap: int = 5  # frames a track may be missed and still be filled in
    hold: int = 2  # frames a track is extended before its first and after its last detection
    min_iou: float = 0.2  # association by overlap
    max_centre_shift: float = 0.75  # else by centre distance, in box diagonals per frame

    def __post_init__(self) -> None:
        if self.max_gap < 0 or self.hold < 0:
            raise UsageError(f"max_gap and hold must be >= 0 frames, got {self.max_gap}, "
                             f"{self.hold}")
        if not 0 < self.min_iou <= 1:
            raise UsageError(f"min_iou must be in (0, 1], got {self.min_iou}")


@dataclass
class _Track:
    id: int
    kind: str
    seen: dict[int, Face | Person] = field(default_factory=dict)  # frame number -> observation

    @property
    def last(self) -> int:
        return max(self.seen)


class Tracker:
    """``tracker.run(scenes) -> scenes`` with track ids and gap-filled people and faces."""

    def __init__(self, options: TrackingOptions | None = None):
        self.options = options or TrackingOptions()
        self._next_id = 0

    def run(self, scenes: Iterable[Scene]) -> Iterator[Scene]:
        delay = max(self.options.max_gap, self.options.hold)
        tracks: dict[str, list[_Track]] = {"person": [], "face": []}
        buffer: deque[tuple[int, Scene]] = deque()
        n = -1
        for n, scene in enumerate(scenes):
            self._associate(n, scene.people, tracks["person"], "person")
            self._associate(n, scene.faces, tracks["face"], "face")
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
        while buffer:
            t, old = buffer.popleft()
            yield self._fill(t, old, tracks, n)

    def _associate(self, n: int, items: list, tracks: list[_Track], kind: str) -> None:
        live = [tr for tr in tracks if n - tr.last <= self.options.max_gap + 1]
        pairs = []
        for i, item in enumerate(items):
            for j, tr in enumerate(live):
                prev = tr.seen[tr.last]
                iou = _iou(item.box, prev.box)
                if iou >= self.options.min_iou:
                    pairs.append((1.0 - iou, i, j))
                else:
                    # After a gap the person may have moved further: allow a shift per frame.
                    shift = _centre_shift(item.box, prev.box) / (n - tr.last)
                    if shift <= self.options.max_centre_shift:
                        pairs.append((1.0 + shift, i, j))
        used_items, used_tracks = set(), set()
        for _, i, j in sorted(pairs):
            if i in used_items or j in used_tracks:
                continue
            used_items.add(i)
            used_tracks.add(j)
            items[i].track_id = live[j].id
            live[j].seen[n] = items[i]
        for i, item in enumerate(items):
            if i not in used_items:
                track = _Track(self._new_id(), kind, {n: item})
                item.track_id = track.id
                tracks.append(track)

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
                before = [f for f in tr.seen if f < t]
                after = [f for f in tr.seen if f > t]
                a = max(before) if before else None
                b = min(after) if after else None
                if a is not None and b is not None and b - a - 1 <= self.options.max_gap:
                    w = (t - a) / (b - a)
                    items.append(_interpolate(tr.seen[a], tr.seen[b], w, size))
                elif a is not None and b is None and t - a <= self.options.hold:
                    items.append(_held(tr.seen[a]))
                elif b is not None and a is None and b - t <= self.options.hold:
                    items.append(_held(tr.seen[b]))
        return scene


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


def _held(item):
    """The observation repeated on a frame without evidence: covered, and masked (uncertain)."""
    if isinstance(item, Face):
        return replace(item, interpolated=True)
    return replace(item, faces=[], interpolated=True, uncertain=True)


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


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _centre_shift(a: np.ndarray, b: np.ndarray) -> float:
    ca = np.array([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2])
    cb = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    diag = max(float(np.hypot(b[2] - b[0], b[3] - b[1])), 1.0)
    return float(np.linalg.norm(ca - cb) / diag)
