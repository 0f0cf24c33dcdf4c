"""Where a video frame deserves a closer look: moving pixels that no person found covers.

The detectors see the whole frame squeezed into their input, and a small person half hidden
escapes all three: a man loading a car boot at the top right of the street clip (vtest
745-774, about 45 px tall, his legs under the boot lid) was left visible on 26 of 30 frames.
On a 160 px window around him the COCO SSD (0.27-0.51) and MoveNet (0.44) found him. The
closer look of photos (``perception/zoom.py``) plans its windows around people already found,
so it never looks there. A still camera says where to look instead: pixels that differ from
the median of the last frames, away from every person found.

* ``MotionWatch`` (one per video; causal: frame ``t`` reads frames ``<= t`` only) gives each
  frame's moving pixels, or None while it has too few frames or when most of the frame moved
  (a cut, a pan: then motion says nothing).
* ``motion_windows`` plans square windows on the moving blobs outside every found person's
  box (grown by a margin: a swinging arm or a shadow beside a walker is not someone new),
  biggest blob first.
* ``on_blob`` keeps the window's people that stand on the moving pixels.

Motion alone is nobody (a car, a shadow, a flag): it only says where the detectors look
again, and what they find there is fused and judged like any other find (fail closed: one
detector's weak find is masked). The evaluation's video check also reads motion, against the
median of the whole clip; the detectors, not motion, decide here who is a person.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from understudy.errors import UsageError
from understudy.perception.zoom import Window, inside_window, window_around
from understudy.scene import Person


@dataclass(frozen=True)
class MotionOptions:
    """How moving pixels are found."""

    frames: int = 8  # the background is the median of this many recent frames
    min_frames: int = 3  # with fewer seen there is no background yet
    levels: int = 25  # grey levels from the background that count as moving
    scale: int = 2  # motion is measured at 1/scale of the frame's size
    # More than this share of the frame moving: the camera moved or the scene cut.
    camera_share: float = 0.3

    def __post_init__(self) -> None:
        if not 1 <= self.min_frames <= self.frames:
            raise UsageError(f"motion needs 1 <= min_frames <= frames, got {self.min_frames} "
                             f"and {self.frames}")
        if self.scale < 1 or not 0 < self.camera_share <= 1:
            raise UsageError("motion scale must be >= 1 and camera_share in (0, 1]")


@dataclass(frozen=True)
class MotionLookOptions:
    """Where the detectors look again, and what they find there that counts."""

    # A found person's box grown by this share of its height (and 2 px) is theirs: the
    # arms, legs and shadow of a walker moving outside their box are not someone new.
    margin: float = 0.15
    # Moving blobs under this share of the frame's area plan no window (221 px at 768x576;
    # the car-boot man's moving legs were 250-700 px).
    min_blob_share: float = 0.0005
    # A window is this many blob heights square, at least min_side px (the windows that
    # found the car-boot man and people entering at the frame's edge were 160-360 px).
    heights: float = 3.0
    min_side: int = 160
    # At most this many windows per frame, biggest blob first (each costs the three
    # detectors side by side, ~110 ms on 2 cores: benchmarks/video_looks.py --look motion).
    max_windows: int = 2
    # A window's person counts when the blob's moving pixels inside their box are at least
    # this share of the smaller of the blob and the box: someone standing on the motion.
    anchor_share: float = 0.3

    def __post_init__(self) -> None:
        if self.margin < 0 or self.min_blob_share < 0 or self.max_windows < 0:
            raise UsageError("motion look margin, min_blob_share and max_windows must be >= 0")
        if not 0 < self.anchor_share <= 1:
            raise UsageError(f"motion look anchor_share must be in (0, 1], "
                             f"got {self.anchor_share}")


class MotionWatch:
    """``watch(image) -> moving pixels | None``, frame after frame of one video."""

    def __init__(self, options: MotionOptions | None = None) -> None:
        self.options = options or MotionOptions()
        self._recent: deque[np.ndarray] = deque(maxlen=self.options.frames)

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        import cv2

        o = self.options
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(w // o.scale, 1), max(h // o.scale, 1)),
                           interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        if self._recent and self._recent[-1].shape != grey.shape:
            self._recent.clear()  # a new size is a new scene
        moving = None
        if len(self._recent) >= o.min_frames:
            background = np.median(np.stack(self._recent), axis=0)
            diff = np.abs(grey.astype(np.float32) - background) > o.levels
            if diff.mean() <= o.camera_share:
                diff = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_OPEN,
                                        np.ones((3, 3), np.uint8))
                diff = cv2.morphologyEx(diff, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
                moving = cv2.resize(diff, (w, h), interpolation=cv2.INTER_NEAREST) > 0
            else:
                self._recent.clear()  # the old frames are another scene now
        self._recent.append(grey)
        return moving


def free_blobs(moving: np.ndarray, people: list[np.ndarray], options: MotionLookOptions
               ) -> list[np.ndarray]:
    """Masks of the moving blobs outside every box of ``people`` (grown by the margin),
    biggest first, at least ``min_blob_share`` of the frame."""
    import cv2

    h, w = moving.shape
    free = moving.copy()
    for box in people:
        x0, y0, x1, y1 = [float(v) for v in box]
        grow = options.margin * (y1 - y0) + 2
        free[max(int(y0 - grow), 0):max(int(np.ceil(y1 + grow)), 0),
             max(int(x0 - grow), 0):max(int(np.ceil(x1 + grow)), 0)] = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats(free.astype(np.uint8),
                                                               connectivity=8)
    floor = options.min_blob_share * h * w
    big = sorted((i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= floor),
                 key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [labels == i for i in big]


def motion_windows(blobs: list[np.ndarray], options: MotionLookOptions) -> list[Window]:
    """Square windows holding ``blobs`` (biggest first): one per blob that no earlier window
    holds, at most ``max_windows``."""
    windows: list[Window] = []
    for blob in blobs:
        if len(windows) >= options.max_windows:
            break
        box = _blob_box(blob)
        if any(inside_window(box, win, 0.0, blob.shape) for win in windows):
            continue
        windows.append(window_around(box, options.heights, options.min_side, blob.shape))
    return windows


def on_blob(people: list[Person], blobs: list[np.ndarray], share: float) -> list[Person]:
    """The people of ``people`` standing on one of ``blobs``: its pixels inside their box
    are at least ``share`` of the smaller of the blob and the box."""
    kept = []
    for p in people:
        x0, y0, x1, y1 = (int(round(float(v))) for v in p.box)
        area = max(x1 - x0, 0) * max(y1 - y0, 0)
        if area and any(blob[max(y0, 0):y1, max(x0, 0):x1].sum()
                        >= share * min(int(blob.sum()), area) for blob in blobs):
            kept.append(p)
    return kept


def _blob_box(blob: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(blob)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
