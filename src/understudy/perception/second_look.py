"""A second look at a video frame's weak finds: nobody is there only when three witnesses agree.

A weak find (a fused score under the sure score) is masked solid: fail closed. On a still
camera most of them were nobody: street furniture that one detector scored weakly on one
frame, or the pavement inside a loose second box around a sure walker. The tracker holds
each find for two frames on either side. On 16 stretches of the street clip (vtest, 30 frames
each), blue sign posts, a tripod, traffic cones and bollards blinked black for 5-14 frames
each: 415,000 pixels turned black over 480 frames.

A weak find in a video frame is nobody, and is dropped, only when all three witnesses agree.
Each looks only outside the sure people's masks, grown by ``margin`` of their height (a
swinging leg beside a mask is theirs):
- **motion:** nothing in its box moves (``Frame.moving``, ``perception/motion.py``);
- **segmentation:** the whole-frame segmenter calls none of its box a person, and no face of
  its own lies there;
- **the detectors:** looking again at a square window three times its height around it, at
  up to three times the resolution they had, they find nobody on it but the sure people.

Each witness alone misses people on those stretches:
- motion misses anyone who stands still;
- segmentation saw no pixel of two walkers in their weak boxes (29x76 and 36x41 px);
- the look found a man half behind a sign at 0.25 from one detector only.

Together they vouched for every weak find over someone no sure find covered.

Photos have no motion, so their weak finds stay masked. So do a video's first frames, until
the watch has a background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from understudy.errors import UsageError
from understudy.perception.zoom import Window, window_around
from understudy.regions import box_iou, box_mask, dilate, inside_share
from understudy.scene import Person

# A detector that looks at one window of a frame: everyone it finds there, in frame
# coordinates (``FusedPeople.look_at``).
WindowLook = Callable[[np.ndarray, Window], list[Person]]


@dataclass(frozen=True)
class SecondLookOptions:
    """When a weak find counts as nobody."""

    # Finds at or above this (the fusion's calibrated score) are the frame's sure people; the
    # perceiver passes its uncertain threshold.
    sure_score: float = 0.5
    # A sure person's mask grown by this share of their height (and 2 px) is theirs.
    margin: float = 0.15
    # Shares of the weak box, away from the sure people, that may move or be segmented as a
    # person. On the 16 street stretches, the 155 finds dropped held at most 1.9 % moving
    # and 3.9 % segmented pixels (a walker's foot beside a cone); of the 89 weak finds kept
    # with no sure person on them, 78 had 3.5 % or more moving, the other 11 9.3 % or more
    # segmented.
    max_moving: float = 0.02
    max_person: float = 0.05
    # Fewer moving or segmented pixels than this are no witness, whatever their share: the
    # edge of a sure person's blob beyond their margin. On 160 frame 9, 6 moving pixels of the
    # 38 outside a sure walker kept a second box over him, masked black for 5 frames. Motion
    # is opened with a 3x3 kernel at half size, so a blob of its own is at least 36 pixels.
    min_pixels: int = 20
    # The window of the second look: this many box heights square, at least ``min_side``.
    heights: float = 3.0
    min_side: int = 160
    # A find of the second look vouches for the weak find when this much of the smaller of
    # the two boxes lies inside the other.
    overlap: float = 0.5
    # A find of the second look this close to a sure person's box (IoU) is them, seen again.
    same_iou: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.sure_score <= 1:
            raise UsageError(f"second look: sure_score must be in [0, 1], got {self.sure_score}")
        if not (0 <= self.max_moving < 1 and 0 <= self.max_person < 1) or self.min_pixels < 0:
            raise UsageError("second look: max_moving and max_person must be in [0, 1), "
                             "min_pixels >= 0")
        if self.heights <= 0 or self.min_side < 1 or not (0 < self.overlap <= 1
                                                           and 0 < self.same_iou <= 1):
            raise UsageError("second look: heights and min_side must be positive, "
                             "overlap and same_iou in (0, 1]")


def nobody_there(image: np.ndarray, weak: Person, sure: Sequence[Person], theirs: np.ndarray,
                 moving: np.ndarray, person_pixels: np.ndarray, look: WindowLook,
                 options: SecondLookOptions) -> bool:
    """Whether all three witnesses say ``weak`` is nobody: nothing moves and nothing is
    segmented as a person in its box outside ``theirs`` (the ``sure`` people's pixels,
    ``sure_pixels``), no face of its own is there either, and ``look`` finds nobody on a
    window around it but the sure people. The look runs last: it is the costly one."""
    size = image.shape[:2]
    away = box_mask(weak.box, size) & ~theirs
    count = int(away.sum())
    floor = options.min_pixels
    if (moving & away).sum() > max(options.max_moving * count, floor) \
            or (person_pixels & away).sum() > max(options.max_person * count, floor):
        return False
    if any(away[_centre(face.box, size)] for face in weak.faces):
        return False  # a face detector saw someone there too
    window = look_window(weak.box, size, options)
    return not any(_vouches(found.box, weak.box, sure, options) for found in look(image, window))


def sure_pixels(sure: Sequence[Person], size: tuple[int, int], margin: float) -> np.ndarray:
    """The ``sure`` people's pixels (their masks, or boxes without one), each grown by
    ``margin`` of their height: a swinging arm or leg beside the mask is theirs. Masks, not
    boxes: a walker half inside a sure neighbour's box is not theirs."""
    out = np.zeros(size, bool)
    for person in sure:
        mask = person.mask if person.mask is not None and person.mask.any() \
            else box_mask(person.box, size)
        out |= dilate(mask, int(round(margin * float(person.box[3] - person.box[1]))) + 2)
    return out


def look_window(box: np.ndarray, size: tuple[int, int], options: SecondLookOptions) -> Window:
    """The square window the detectors look at again around ``box``."""
    return window_around(box, options.heights, options.min_side, size)


def _vouches(found: np.ndarray, weak: np.ndarray, sure: Sequence[Person],
             options: SecondLookOptions) -> bool:
    """A box of the second look stands for someone on the weak find: it overlaps the weak
    box, and it is not one of the sure people seen again (a box that close to theirs)."""
    on_weak = max(inside_share(found, weak), inside_share(weak, found)) >= options.overlap
    return on_weak and all(box_iou(found, s.box) < options.same_iou for s in sure)


def _centre(box: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """The pixel (row, column) at ``box``'s centre, inside the image."""
    h, w = size
    return (min(max(int((box[1] + box[3]) / 2), 0), h - 1),
            min(max(int((box[0] + box[2]) / 2), 0), w - 1))
