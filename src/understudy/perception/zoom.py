"""A closer look at small people: the detectors again, on windows around them at full size.

Every detector here sees the whole frame squeezed into its input (300x300 for the SSDs, 256
px for MoveNet). On a 768x576 street a 75 px walker becomes a 30 px wide sliver, and two
walkers shoulder to shoulder became one box in all three detectors (vtest frame 100). On a
300x300 window around the pair, all three found two people (scores 0.40-0.99); on a
576x576 window, which keeps the aspect ratio but not the size, only the COCO SSD did.

So after the first pass, windows about four small-person heights square are planned over the
small people found, the detectors run on each window, and each detector's boxes inside a
window are replaced by what it saw there. Big people (a portrait, a footballer) plan no
window: the zoom costs nothing on such photos.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from understudy.errors import UsageError
from understudy.regions import box_iou, inside_share, moved_points
from understudy.scene import Person

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


@dataclass(frozen=True)
class ZoomOptions:
    # A person whose box is shorter than this share of the frame's height is small: at 576
    # px, under 173 px, which the SSDs see under 90 px tall.
    small_share: float = 0.3
    # Only people the first pass is this sure of plan a window (fused, calibrated score): a
    # weak find in a stadium crowd's texture would look at more texture.
    min_score: float = 0.4
    # A window is this many median small-person heights square (the 300x300 window above
    # was four heights of 75 px), and at least min_side pixels.
    heights: float = 4.0
    min_side: int = 160
    # At most this many windows per frame; more are needed: the side grows until they fit.
    max_windows: int = 3
    # A window wider than this share of the frame's shorter side magnifies too little to
    # pay for itself (on a 510x576 crop, 451 px windows: 3 windows, 218 -> 623 ms, nothing
    # found): people that would need one get none, and a grown side stops here.
    max_side_share: float = 0.6
    # A person's box must lie this far inside a window (share of the side) to be covered by
    # it: a box at its border is cut, and is seen whole by the first pass or another window.
    inner_share: float = 0.05
    # A first-pass box gives way to the window's boxes of the same detector when they cover
    # this share of it: the people it held were seen closer (a pair's box: 97 % under the two
    # halves). A weak sliver at the frame's edge under a neighbour's box (60 %) stays.
    replace_cover: float = 0.8
    # ... or when a window box is the same person seen closer: each window box takes the
    # first-pass box it overlaps most from this IoU, and any further one it overlaps as much
    # is a duplicate of that person. A walker's loose first-pass box (0.50-0.57 to his closer
    # box at vtest 421 and 740; a box over two men, 0.30 at 160) otherwise stayed beside it
    # as a second person, masked black over a sign. At the frame's edge one to one only: a
    # weak sliver there (0.46 to its neighbour's closer box, vtest_0625_crop) is someone.
    same_iou: float = 0.25
    # Two boxes of one detector this close are one person seen twice (window and frame).
    duplicate_iou: float = 0.7
    # A window box counts only when this share of it lies on a person the first pass was
    # fairly sure of: the closer look splits and tightens people, it finds none far from
    # them. Unanchored, the SSDs at full size boxed a cone, a notice board and a bollard on
    # the street clip, each masked black for 3-10 frames. (The woman of the pair: 0.56.)
    anchor_share: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.small_share <= 1:
            raise UsageError(f"zoom small_share must be in (0, 1], got {self.small_share}")
        if self.max_windows < 0:
            raise UsageError(f"zoom max_windows must be >= 0, got {self.max_windows}")
        if not 0 <= self.inner_share < 0.5:
            raise UsageError(f"zoom inner_share must be in [0, 0.5), got {self.inner_share}")
        if not 0 < self.max_side_share <= 1:
            raise UsageError(f"zoom max_side_share must be in (0, 1], got {self.max_side_share}")


def plan_windows(boxes: Sequence[np.ndarray], size: tuple[int, int],
                 options: ZoomOptions) -> list[Window]:
    """Square windows that together hold every small box of ``boxes`` well inside one of them
    (greedy, biggest cluster first), at most ``options.max_windows``."""
    h, w = size
    small = [np.asarray(b, np.float64) for b in boxes
             if 0 < b[3] - b[1] < options.small_share * h]
    if not small or options.max_windows == 0:
        return []
    side = max(options.min_side, options.heights * float(np.median([b[3] - b[1] for b in small])))
    largest = options.max_side_share * min(h, w)
    if side > largest:
        return []
    while True:
        side = min(side, largest)
        windows = _cover(small, int(round(side)), size, options)
        if len(windows) <= options.max_windows or side >= largest:
            return windows[:options.max_windows]
        side *= 1.5


def _cover(boxes: list[np.ndarray], side: int, size: tuple[int, int],
           options: ZoomOptions) -> list[Window]:
    """Greedy cover: a window on each box not yet inside one, placed to hold the most boxes."""
    left = list(boxes)
    windows: list[Window] = []
    while left:
        best: tuple[int, Window, list[int]] | None = None
        for b in left:
            window = window_at(b, side, size)
            held = [i for i, o in enumerate(left)
                    if inside_window(o, window, options.inner_share, size)]
            if best is None or len(held) > best[0]:
                best = (len(held), window, held)
        assert best is not None
        count, window, held = best
        if count == 0:  # a box taller than the window: the first pass saw it well enough
            break
        windows.append(window)
        taken = set(held)
        left = [o for i, o in enumerate(left) if i not in taken]
    return windows


def window_at(box: np.ndarray, side: int, size: tuple[int, int]) -> Window:
    """The ``side``-square window centred on ``box``, shifted to lie inside the frame."""
    h, w = size
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    sw, sh = min(side, w), min(side, h)
    x0 = int(np.clip(round(cx - sw / 2), 0, w - sw))
    y0 = int(np.clip(round(cy - sh / 2), 0, h - sh))
    return x0, y0, x0 + sw, y0 + sh


def window_around(box: np.ndarray, heights: float, min_side: int, size: tuple[int, int]
                  ) -> Window:
    """The square window ``heights`` times ``box``'s height wide (at least ``min_side``),
    centred on it and inside the frame: where the video looks (motion, second look) size
    their windows by what they look at."""
    side = int(round(max(min_side, heights * float(box[3] - box[1]))))
    return window_at(box, side, size)


def inside_window(box: np.ndarray, window: Window, share: float, size: tuple[int, int]) -> bool:
    """``box`` lies inside ``window``, ``share`` of its side away from each border that is
    not the frame's (``size``: the frame's height and width)."""
    x0, y0, x1, y1 = window
    h, w = size
    mx, my = share * (x1 - x0), share * (y1 - y0)
    return bool(box[0] >= x0 + (mx if x0 > 0 else 0) and box[2] <= x1 - (mx if x1 < w else 0)
                and box[1] >= y0 + (my if y0 > 0 else 0) and box[3] <= y1 - (my if y1 < h else 0))


EDGE_TOL = 2.0  # pixels: a box this close to a border reaches it


def _at_edge(box: np.ndarray, size: tuple[int, int]) -> bool:
    """``box`` reaches the frame's border (within ``EDGE_TOL``): the person is cut by it."""
    h, w = size
    return bool(box[0] <= EDGE_TOL or box[1] <= EDGE_TOL or box[2] >= w - EDGE_TOL
                or box[3] >= h - EDGE_TOL)


def _covered(box: np.ndarray, others: list[np.ndarray]) -> float:
    """The share of ``box`` that the union of ``others`` covers (on a whole-pixel grid)."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    w = max(int(np.ceil(box[2])) - x0, 1)
    h = max(int(np.ceil(box[3])) - y0, 1)
    grid = np.zeros((h, w), bool)
    for o in others:
        ox0, ox1 = (int(np.clip(v - x0, 0, w)) for v in (np.floor(o[0]), np.ceil(o[2])))
        oy0, oy1 = (int(np.clip(v - y0, 0, h)) for v in (np.floor(o[1]), np.ceil(o[3])))
        grid[oy0:oy1, ox0:ox1] = True
    return float(grid.mean())


def shift(people: list[Person], window: Window) -> list[Person]:
    """People found in a window's crop, in frame coordinates."""
    offset = np.array(window[:2], np.float32)
    return [replace(p, box=np.asarray(p.box, np.float32) + np.tile(offset, 2), mask=None,
                    keypoints_coco17=moved_points(p.keypoints_coco17, offset))
            for p in people]


def anchored(seen: list[Person], anchors: Sequence[np.ndarray], share: float) -> list[Person]:
    """The people of ``seen`` with at least ``share`` of their box on one of ``anchors``."""
    return [p for p in seen if any(inside_share(p.box, a) >= share for a in anchors)]


def cut_by(box: np.ndarray, window: Window, size: tuple[int, int]) -> bool:
    """``box`` reaches a border of ``window`` that is not the frame's (``size``: the
    frame's height and width): the person is cut there, and seen whole elsewhere."""
    h, w = size
    x0, y0, x1, y1 = window
    return bool((box[0] <= x0 + EDGE_TOL and x0 > 0) or (box[1] <= y0 + EDGE_TOL and y0 > 0)
                or (box[2] >= x1 - EDGE_TOL and x1 < w) or (box[3] >= y1 - EDGE_TOL and y1 < h))


def unseen_people(seen: list[Person], known: Sequence[np.ndarray], window: Window,
                  size: tuple[int, int], share: float = 0.5) -> list[Person]:
    """The people of ``seen`` (a window's boxes, frame coordinates) that none of ``known``
    holds: under ``share`` of their box on any known box, and not cut by the window's border
    inside the frame (a neighbouring window or the first pass saw them whole).

    A look that adds people only: the whole frame saw the others, and its boxes stay. Parts
    of them are not new people: on a tile MoveNet gave obama3's president two skeletons, and
    detectors box a tall person's half a little short of the tile's border (5-26 px at
    1434 px), so the cut alone does not catch them."""
    return [p for p in seen if not cut_by(p.box, window, size)
            and all(inside_share(p.box, k) < share for k in known)]


def merge_window(frame: list[Person], seen: list[Person], window: Window,
                 size: tuple[int, int], options: ZoomOptions) -> list[Person]:
    """One detector's people after a closer look: ``seen``, its people in ``window`` (frame
    coordinates), replace its first-pass boxes inside the window that

    * a window box overlaps most (IoU >= ``options.same_iou``, one to one): the same person
      seen closer; further boxes overlapping that window box as much are duplicates of them;
    * the window's boxes cover (``options.replace_cover``): a box over several people.

    A first-pass box the window does not see stays, weak or sure (fail closed: a man half
    behind a sign at vtest frame 100, weak on both looks, was left visible when the closer
    look dropped weak finds it did not make again), and so does a box at the frame's edge
    that no window box takes for itself: the closer look sees no more of a person cut by the
    frame. Window boxes cut by the window's border (not the frame's) are
    dropped: the first pass or a neighbouring window saw those people whole."""
    whole = [p for p in seen if not cut_by(p.box, window, size)]
    boxes = [s.box for s in whole]
    inside = [i for i, p in enumerate(frame) if inside_window(p.box, window, 0.0, size)]
    pairs = sorted(((box_iou(frame[i].box, b), i, j) for i in inside
                    for j, b in enumerate(boxes)), reverse=True)
    gone: set[int] = set()
    taken: set[int] = set()
    for iou, i, j in pairs:
        if iou < options.same_iou:
            break
        if i not in gone and (j not in taken or not _at_edge(frame[i].box, size)):
            gone.add(i)
            taken.add(j)
    gone |= {i for i in inside if _covered(frame[i].box, boxes) >= options.replace_cover}
    out = [p for i, p in enumerate(frame) if i not in gone]
    for s in sorted(whole, key=lambda p: -p.score):
        twin = next((i for i, o in enumerate(out)
                     if box_iou(o.box, s.box) >= options.duplicate_iou), None)
        if twin is None:
            out.append(s)
        elif s.score > out[twin].score:
            out[twin] = s
    return out
