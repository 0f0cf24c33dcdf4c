"""A closer look where a video frame moves and nobody was found (perception/motion.py).

At the top right of vtest 745-774 a man loads a car boot, about 45 px tall, his legs under
the boot lid. No detector found him on the whole frame, and he was left visible on 26 of 30
frames. On a 160 px window around his moving legs the COCO SSD and MoveNet found him."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.perception.cache import PerceptionCache
from understudy.perception.fusion import DetectorSpec, FusedPeople
from understudy.perception.motion import (MotionLookOptions, MotionOptions, MotionWatch,
                                          free_blobs, motion_windows, on_blob)
from understudy.regions import box_iou, box_mask
from understudy.scene import Frame, Person

SIZE = (576, 768)
CAR_BOOT_MAN = (737, 54, 757, 97)  # vtest 750, where the closer look found him


def _p(box, score=0.9) -> Person:
    return Person(box=np.array(box, np.float32), score=score)


def _street(square_at: tuple[int, int] | None = None) -> np.ndarray:
    """A textured still street; a 30x60 px dark figure at ``square_at`` (x, y)."""
    image = np.full(SIZE + (3,), 120, np.uint8)
    image[::16] = 90  # lines on the ground: texture that does not move
    if square_at is not None:
        x, y = square_at
        image[y:y + 60, x:x + 30] = 20
    return image


def _blob(box) -> np.ndarray:
    return box_mask(np.array(box, np.float32), SIZE)


def test_moving_pixels_appear_once_the_watch_has_a_background():
    watch = MotionWatch(MotionOptions(min_frames=3))
    assert [watch(_street()) for _ in range(3)] == [None, None, None]
    still = watch(_street())
    assert still is not None and not still.any()
    moved = watch(_street(square_at=(400, 200)))
    assert moved.shape == SIZE
    ys, xs = np.nonzero(moved)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == pytest.approx((400, 200, 429, 259), abs=2)


def test_a_cut_or_a_pan_says_nothing_and_starts_the_background_again():
    watch = MotionWatch(MotionOptions(min_frames=2))
    for _ in range(3):
        watch(_street())
    dark = _street() // 4  # another scene
    assert watch(dark) is None  # most of the frame changed at once
    assert watch(dark) is None  # one frame of the new scene is no background yet
    after = watch(dark)
    assert after is not None and not after.any()
    assert watch(np.zeros((100, 100, 3), np.uint8)) is None  # a new size is a new scene


def test_motion_beside_a_found_person_is_theirs_and_tiny_motion_is_nothing():
    walker = np.array([300, 200, 330, 280], np.float32)  # 80 px tall: 14 px margin
    options = MotionLookOptions()
    beside = _blob((332, 230, 342, 280))  # a swinging arm just outside the box
    assert free_blobs(beside, [walker], options) == []
    assert free_blobs(_blob((600, 40, 606, 50)), [], options) == []  # 60 px: under the floor
    far, small = (700, 50, 730, 100), (100, 400, 120, 430)
    blobs = free_blobs(_blob(far) | _blob(small) | beside, [walker], options)
    assert [tuple(int(v) for v in (np.nonzero(b)[1].min(), np.nonzero(b)[0].min()))
            for b in blobs] == [(700, 50), (100, 400)]  # biggest first


def test_windows_hold_their_blob_and_stay_inside_the_frame():
    options = MotionLookOptions(max_windows=2)
    blobs = free_blobs(_blob((740, 50, 768, 100)) | _blob((100, 100, 120, 250))
                       | _blob((500, 450, 520, 470)), [], options)
    # Biggest blob first: three heights of the 150 px one; the minimum side for the 50 px
    # one, shifted inside the frame; the smallest is left for want of windows.
    assert motion_windows(blobs, options) == [(0, 0, 450, 450), (608, 0, 768, 160)]
    one = motion_windows(free_blobs(_blob((700, 50, 720, 90)) | _blob((730, 60, 740, 90)),
                                    [], options), options)
    assert len(one) == 1  # a second blob inside the first one's window needs no window


def test_only_people_standing_on_the_motion_count():
    blob = _blob((740, 56, 768, 94))
    on, off = _p(CAR_BOOT_MAN), _p((620, 20, 640, 70))  # the man; a sign in the window
    assert on_blob([on, off], [blob], 0.3) == [on]
    assert on_blob([off], [blob], 0.3) == []


def test_fusion_adds_the_people_found_on_unclaimed_motion():
    walker = (300, 200, 330, 280)

    def detector(image):
        """The walker on the whole frame; on a window, the man at the boot and a sign."""
        if image.shape[:2] == SIZE:
            return [_p(walker)]
        x0, y0 = fused.last_motion_windows[0][:2]
        return [_p((b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0), 0.6)
                for b in (CAR_BOOT_MAN, (620, 20, 640, 70))]

    fused = FusedPeople([DetectorSpec("a", detector)], motion=MotionLookOptions())
    image = np.zeros(SIZE + (3,), np.uint8)
    assert fused.looks_at_motion and "MotionLookOptions" in fused.model_id
    assert [tuple(p.box) for p in fused(image)] == [walker]  # a photo: no motion
    still = np.zeros(SIZE, bool)
    assert len(fused(image, moving=still)) == 1 and fused.last_motion_windows == []
    found = fused(image, moving=_blob((740, 56, 768, 94)) | _blob((310, 210, 320, 270)))
    assert fused.last_motion_windows == [(608, 0, 768, 160)]
    assert sorted(tuple(int(v) for v in p.box) for p in found) == [walker, CAR_BOOT_MAN]
    assert not FusedPeople([DetectorSpec("a", detector)]).looks_at_motion


def test_a_frames_motion_is_part_of_its_cache_key():
    image = _street()
    plain = PerceptionCache.key(Frame(image), "ctx")
    moving = PerceptionCache.key(Frame(image, moving=_blob((0, 0, 10, 10))), "ctx")
    other = PerceptionCache.key(Frame(image, moving=_blob((0, 0, 10, 20))), "ctx")
    assert len({plain, moving, other}) == 3


def test_bad_motion_options_are_named():
    with pytest.raises(UsageError, match="min_frames"):
        MotionOptions(min_frames=9, frames=8)
    with pytest.raises(UsageError, match="anchor_share"):
        MotionLookOptions(anchor_share=0)


def test_the_man_at_the_car_boot_is_found_in_the_stream(perceiver, street_frame):
    """The real detectors on vtest 745-750: the whole frame misses the man at the boot; the
    stream's look at his moving legs finds him (the tracker then carries him)."""
    fused = perceiver.people.detector
    frames = [Frame(street_frame(i), "vtest.avi", i) for i in range(745, 751)]
    with fused.first_pass_only():
        whole = fused(frames[-1].image)
    assert not [p for p in whole if box_iou(p.box, CAR_BOOT_MAN) >= 0.5]
    last = list(perceiver.perceive_stream(iter(frames)))[-1]
    assert last.frame.moving is not None and last.frame.moving[54:97, 737:757].any()
    assert [p for p in last.people if box_iou(p.box, CAR_BOOT_MAN) >= 0.5]
