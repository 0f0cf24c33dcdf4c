"""Several people detectors as one: union of their boxes, matched across detectors, with one
calibrated score per person.

Every detector measured here misses some people the others find (SSDLite misses people the
COCO SSD finds on a street; MoveNet sees people from behind and seated), so the union is taken.
Two rules keep it honest:

* **one box per detector per person.** A detector already ran its own NMS, so two of its boxes
  are two people; a fused person takes at most one box from each detector. Overlapping people
  (a group at a table) therefore stay separate people with their own masks, where a plain NMS
  over the union would merge them.
* **calibrated scores.** Raw scores are not comparable (MoveNet gave 0.23-0.37 to clearly
  visible walkers that the SSDs scored 0.6-0.95). Each detector has a ``sure`` score, mapped
  to 0.5 (the perceiver's uncertain threshold), piecewise linearly below and above; boxes of
  several detectors on the same person combine by noisy-OR, ``1 - prod(1 - c)``, so two
  detectors that agree on a weak find make it sure, and one detector's lone weak find stays
  uncertain (masked out, fail closed).

A frame far from square (``FusionOptions.tile_aspect``) is looked at in square tiles too,
which the detectors see without squeezing: the people found there that the whole frame did
not hold are added. With ``zoom``, small people get a second, closer look
(``understudy.perception.zoom``): the detectors run again on windows around them, and the
union is taken of what they saw there. With ``motion``, a video frame's moving pixels that
nobody found covers get a closer look too (``understudy.perception.motion``): the people
the detectors find on them there are added.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from understudy.errors import UsageError
from understudy.perception.motion import MotionLookOptions, free_blobs, motion_windows, on_blob
from understudy.perception.zoom import (Window, ZoomOptions, anchored, merge_window,
                                        plan_windows, shift, unseen_people)
from understudy.regions import box_area, box_iou, square_tiles
from understudy.scene import Person


@dataclass
class DetectorSpec:
    """One detector in the fusion, with the raw score at which it is sure of a person."""

    name: str
    detector: Callable[[np.ndarray], list[Person]]
    sure: float = 0.5
    on_tiles: bool = True  # also run on an elongated frame's square tiles

    def __post_init__(self) -> None:
        if not 0 < self.sure < 1:
            raise UsageError(f"detector {self.name!r}: sure score must be in (0, 1), "
                             f"got {self.sure}")


@dataclass
class FusionOptions:
    match_iou: float = 0.45  # boxes of two detectors this close are the same person
    # Two boxes of one detector this close are one person found twice (its NMS let both
    # through); side-by-side people overlapped at most ~0.5 on the photos measured here.
    duplicate_iou: float = 0.7
    # Keypoint fallback: a MoveNet person whose box did not match still belongs to a fused
    # person when this share of its visible keypoints lies inside that person's box.
    keypoints_inside: float = 0.8
    # A frame at least this much longer than wide (or wider than high) is looked at in
    # square tiles too (``regions.square_tiles``): squeezed whole into a detector's square
    # input, the neighbour cut by the edge of a 1434x2333 portrait (151 px wide) became a
    # 31x114 px sliver that no detector found; on the lower square tile the COCO SSD found
    # them (0.62). 0 turns the tiles off. 4:3 frames (1.33) are not tiled.
    tile_aspect: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.match_iou <= 1:
            raise UsageError(f"fusion match_iou must be in (0, 1], got {self.match_iou}")
        if self.tile_aspect and self.tile_aspect < 1.1:
            raise UsageError(f"fusion tile_aspect must be 0 (off) or >= 1.1, "
                             f"got {self.tile_aspect}")


def calibrate(score: float, sure: float) -> float:
    """Map a raw score to [0, 1] so that ``sure`` lands on 0.5, linear on each side."""
    score = min(max(float(score), 0.0), 1.0)
    if score <= sure:
        return 0.5 * score / sure
    return 0.5 + 0.5 * (score - sure) / (1.0 - sure)


@dataclass
class _Cluster:
    box: np.ndarray
    members: dict[str, Person] = field(default_factory=dict)
    calibrated: dict[str, float] = field(default_factory=dict)


class FusedPeople:
    """``detector(image) -> list[Person]``: the union of several detectors' people.

    A ``PeopleDetector``. Each fused person has the score-weighted mean of its members' boxes,
    the noisy-OR of the calibrated scores, and MoveNet-style ``keypoints_coco17`` when any member
    had them. ``last_counts`` holds how many boxes each detector gave on the last image.

    With ``parallel`` the detectors run side by side (``perception.side_by_side``): the same
    people, found sooner.
    """

    def __init__(self, specs: Sequence[DetectorSpec], options: FusionOptions | None = None,
                 parallel: bool = False, zoom: ZoomOptions | None = None,
                 motion: MotionLookOptions | None = None):
        if not specs:
            raise UsageError("FusedPeople needs at least one detector")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise UsageError(f"detector names must be distinct, got {names}")
        self.specs = list(specs)
        self.options = options or FusionOptions()
        self.zoom = zoom
        self.motion = motion
        self.last_counts: dict[str, int] = {}
        self.last_windows: list[Window] = []
        self.last_tiles: list[Window] = []
        self.last_motion_windows: list[Window] = []
        self._tiled = True  # off inside first_pass_only
        self._side_by_side = None
        if parallel and len(self.specs) > 1:
            from understudy.perception.side_by_side import SideBySide

            self._side_by_side = SideBySide(len(self.specs) - 1, "understudy-people")

    @property
    def model_id(self) -> str:
        """What the people found depend on: each detector, the fusion and the zoom."""
        parts = [f"{s.name}={getattr(s.detector, 'model_id', type(s.detector).__name__)}"
                 f"@{s.sure}{'' if s.on_tiles else '-tiles'}" for s in self.specs]
        return "fused(" + ",".join(parts) + f")@{self.options}@{self.zoom}@{self.motion}"

    @property
    def looks_at_motion(self) -> bool:
        """Whether a video frame's moving pixels are worth giving (``__call__``'s ``moving``)."""
        return self.motion is not None

    def __call__(self, image: np.ndarray, moving: np.ndarray | None = None) -> list[Person]:
        """The people on ``image``; ``moving``: a video frame's moving pixels, looked at
        closer where nobody found covers them."""
        each = self._detect(image)
        for spec, people in zip(self.specs, each):
            self.last_counts[spec.name] = len(people)
        size = image.shape[:2]
        self.last_tiles = self._tiles(size)
        for tile in self.last_tiles:
            each = self._add_unseen(image, each, tile, tile=True)
        fused = self._fuse(each)
        self.last_motion_windows = []
        if moving is not None and self.motion is not None:
            blobs = free_blobs(moving, [p.box for p in fused], self.motion)
            self.last_motion_windows = motion_windows(blobs, self.motion)
            share = self.motion.anchor_share
            for window in self.last_motion_windows:  # the people there on the motion count
                each = self._add_unseen(image, each, window,
                                        keep=lambda people: on_blob(people, blobs, share))
            if self.last_motion_windows:
                fused = self._fuse(each)
        self.last_windows = []
        if self.zoom is None:
            return fused
        anchors = [p.box for p in fused if p.score >= self.zoom.min_score]
        self.last_windows = plan_windows(anchors, size, self.zoom)
        for window in self.last_windows:
            each = self._look_closer(image, each, window, anchors)
        return self._fuse(each) if self.last_windows else fused

    def look_at(self, image: np.ndarray, window: Window) -> list[Person]:
        """Everyone the detectors find on ``window`` of ``image`` alone, fused, in frame
        coordinates: the second look at a video frame's weak find
        (``perception/second_look.py``)."""
        x0, y0, x1, y1 = window
        return shift(self._fuse(self._detect(np.ascontiguousarray(image[y0:y1, x0:x1]))), window)

    def _tiles(self, size: tuple[int, int]) -> list[Window]:
        """The square tiles an elongated frame is looked at in, besides the whole frame."""
        h, w = size
        aspect = self.options.tile_aspect
        if not self._tiled or not aspect or max(h, w) < aspect * min(h, w):
            return []
        return square_tiles(size)

    def _add_unseen(self, image: np.ndarray, each: list[list[Person]], window: Window,
                    tile: bool = False,
                    keep: Callable[[list[Person]], list[Person]] | None = None
                    ) -> list[list[Person]]:
        """Each detector's people with those it found on ``window`` that nobody found yet
        (``zoom.unseen_people``) and that ``keep`` keeps. ``tile``: only the detectors that
        run on tiles look (``DetectorSpec.on_tiles``)."""
        x0, y0, x1, y1 = window
        seen = self._detect(np.ascontiguousarray(image[y0:y1, x0:x1]), tile=tile)
        known = [p.box for people in each for p in people]
        out = []
        for mine, new in zip(each, seen):
            unseen = unseen_people(shift(new, window), known, window, image.shape[:2])
            out.append(mine + (keep(unseen) if keep is not None else unseen))
        return out

    def _look_closer(self, image: np.ndarray, each: list[list[Person]], window: Window,
                     anchors: Sequence[np.ndarray]) -> list[list[Person]]:
        """Each detector's people after it looked closer at ``window`` (``zoom.merge_window``;
        only its window boxes on ``anchors`` count)."""
        assert self.zoom is not None
        x0, y0, x1, y1 = window
        seen = self._detect(np.ascontiguousarray(image[y0:y1, x0:x1]))
        return [merge_window(mine, anchored(shift(new, window), anchors, self.zoom.anchor_share),
                             window, image.shape[:2], self.zoom)
                for mine, new in zip(each, seen)]

    @contextmanager
    def first_pass_only(self) -> Iterator[None]:
        """The whole frame only while inside, no tiles and no closer look at small people:
        video frames, whose people the tracker carries (docs/perception.md). The look at
        moving pixels stays: it is for video."""
        zoom, tiled = self.zoom, self._tiled
        self.zoom, self._tiled = None, False
        try:
            yield
        finally:
            self.zoom, self._tiled = zoom, tiled

    def _detect(self, image: np.ndarray, tile: bool = False) -> list[list[Person]]:
        """Each detector's people on ``image``; on a ``tile``, nobody for a detector that
        does not run on tiles (``DetectorSpec.on_tiles``)."""
        running = [spec.on_tiles or not tile for spec in self.specs]
        detectors = [spec.detector for spec, run in zip(self.specs, running) if run]
        if self._side_by_side is not None:
            found = iter(self._side_by_side(detectors, image))
        else:
            found = iter([detector(image) for detector in detectors])
        return [next(found) if run else [] for run in running]

    def _fuse(self, each: list[list[Person]]) -> list[Person]:
        """One person per cluster of boxes that the detectors agree on."""
        found = []  # (calibrated score, detector name, person)
        for spec, people in zip(self.specs, each):
            found += [(calibrate(p.score, spec.sure), spec.name, p) for p in people]
        found.sort(key=lambda t: -t[0])
        clusters: list[_Cluster] = []
        loose: list[tuple[float, str, Person]] = []
        for c, name, person in found:
            best, best_iou = None, self.options.match_iou
            duplicate = False
            for cl in clusters:
                iou = box_iou(cl.box, person.box)
                if name in cl.members:
                    # One box per detector per person: its boxes are distinct people.
                    duplicate |= iou >= self.options.duplicate_iou
                    continue
                if iou >= best_iou:
                    best, best_iou = cl, iou
            if duplicate and best is None:
                continue
            if best is None and person.keypoints_coco17 is not None:
                loose.append((c, name, person))  # placed after the boxes, by keypoints
                continue
            if best is None:
                best = _Cluster(np.asarray(person.box, np.float32).copy())
                clusters.append(best)
            best.members[name] = person
            best.calibrated[name] = c
        for c, name, person in loose:
            home = self._keypoint_home(person, name, clusters)
            if home is None:
                home = _Cluster(np.asarray(person.box, np.float32).copy())
                clusters.append(home)
            home.members[name] = person
            home.calibrated[name] = c
        return [self._person(cl) for cl in clusters]

    def _keypoint_home(self, person: Person, name: str, clusters: list[_Cluster]
                       ) -> _Cluster | None:
        """The fused person whose box holds most of this person's visible keypoints."""
        kp = person.keypoints_coco17
        seen = kp[kp[:, 2] >= 0.2, :2]
        if len(seen) == 0:
            return None
        best, best_share = None, self.options.keypoints_inside
        for cl in clusters:
            if name in cl.members or any(m.keypoints_coco17 is not None
                                         for m in cl.members.values()):
                continue
            x0, y0, x1, y1 = cl.box
            inside = (seen[:, 0] >= x0) & (seen[:, 0] <= x1) & (seen[:, 1] >= y0) \
                & (seen[:, 1] <= y1)
            share = float(inside.mean())
            # Prefer the tightest box that holds the keypoints: a big neighbour box may too.
            if share >= best_share and (best is None or box_area(cl.box) < box_area(best.box)):
                best, best_share = cl, share
        return best

    @staticmethod
    def _person(cl: _Cluster) -> Person:
        top = max(cl.calibrated, key=cl.calibrated.get)
        score = 1.0 - float(np.prod([1.0 - c for c in cl.calibrated.values()]))
        keypoints = next((m.keypoints_coco17 for m in cl.members.values()
                          if m.keypoints_coco17 is not None), None)
        lead = cl.members[top]
        # The box is the members' boxes averaged, weighted by calibrated score (weighted box
        # fusion): one detector's loose edge reaches into a neighbour less than its own box.
        names = list(cl.members)
        weights = np.array([cl.calibrated[n] for n in names], np.float64)
        boxes = np.array([cl.members[n].box for n in names], np.float64)
        box = (weights[:, None] * boxes).sum(0) / max(weights.sum(), 1e-9)
        return Person(box=box.astype(np.float32), score=score, mask=lead.mask,
                      keypoints_coco17=keypoints)
