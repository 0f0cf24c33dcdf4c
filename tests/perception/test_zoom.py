"""The closer look: detectors again on windows around small people (perception/zoom.py).

At vtest frame 100 a couple walks shoulder to shoulder, about 75 px tall. On the whole frame
every detector boxed them as one person, so RefSD gave them one stand-in and the woman's
coat and legs stayed visible beside it. On a window around them the detectors see two."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.perception.fusion import DetectorSpec, FusedPeople
from understudy.perception.zoom import (ZoomOptions, anchored, merge_window, plan_windows,
                                        shift)
from understudy.regions import box_iou
from understudy.scene import Person

SIZE = (576, 768)
COUPLE = {"man": (493, 147, 520, 222), "woman": (515, 150, 542, 222)}  # vtest frame 100


def _p(box, score=0.9) -> Person:
    return Person(box=np.array(box, np.float32), score=score)


def test_big_people_plan_no_window():
    assert plan_windows([np.array([100, 50, 300, 560.0])], SIZE, ZoomOptions()) == []
    assert plan_windows([], SIZE, ZoomOptions()) == []


def test_no_window_that_would_magnify_too_little():
    """Four heights of a 113 px walker on a 510x576 crop: 451 px windows, no closer look."""
    box = np.array([100, 200, 130, 313], np.float64)
    assert plan_windows([box], (576, 510), ZoomOptions()) == []
    assert len(plan_windows([box], (1152, 1020), ZoomOptions())) == 1


def test_small_people_near_each_other_share_one_window_four_heights_square():
    boxes = [np.array(b, np.float64) for b in ((300, 200, 330, 275), (350, 210, 380, 285))]
    windows = plan_windows(boxes, SIZE, ZoomOptions())
    assert len(windows) == 1
    x0, y0, x1, y1 = windows[0]
    assert x1 - x0 == y1 - y0 == 300  # 4 x 75 px
    assert all(x0 < b[0] and b[2] < x1 and y0 < b[1] and b[3] < y1 for b in boxes)


def test_windows_grow_rather_than_exceed_the_limit_and_stay_inside_the_frame():
    boxes = [np.array([x, 250, x + 20, 300], np.float64) for x in range(10, 760, 60)]
    windows = plan_windows(boxes, SIZE, ZoomOptions(max_windows=3))
    assert 1 <= len(windows) <= 3
    for x0, y0, x1, y1 in windows:
        assert 0 <= x0 < x1 <= SIZE[1] and 0 <= y0 < y1 <= SIZE[0]
    held = [any(w[0] <= b[0] and b[2] <= w[2] and w[1] <= b[1] and b[3] <= w[3]
                for w in windows) for b in boxes]
    assert all(held)


def test_a_box_over_a_pair_gives_way_to_the_two_people_seen_closer():
    window = (368, 35, 668, 335)
    merged = _p((497, 148, 530, 222), 0.99)
    apart = [_p(COUPLE["man"], 0.93), _p(COUPLE["woman"], 0.75)]
    out = merge_window([merged], apart, window, SIZE, ZoomOptions())
    assert sorted(tuple(p.box.astype(int)) for p in out) == sorted(COUPLE.values())


def test_a_loose_box_gives_way_to_the_same_person_seen_closer():
    """vtest 421: SSDLite's loose 0.54 box and its 0.84 box on the window (IoU 0.57) are one
    walker; kept both, he became a sure stand-in and a weak second person."""
    window = (157, 90, 461, 394)
    loose, closer = _p((282, 196, 331, 288), 0.54), _p((294, 200, 324, 292), 0.84)
    assert merge_window([loose], [closer], window, SIZE, ZoomOptions()) == [closer]


def test_a_second_loose_box_of_one_person_is_a_duplicate_of_him_seen_closer():
    """vtest 740: SSDLite's 0.66 box on a man by a sign and its 0.35 box over him and the
    sign; on the window one box. Kept, the 0.35 box was masked black over the sign."""
    window = (193, 83, 515, 405)
    man, loose = _p((432, 187, 475, 275), 0.66), _p((416, 185, 459, 276), 0.35)
    closer = _p((434, 179, 471, 274), 0.33)
    assert merge_window([man, loose], [closer], window, SIZE, ZoomOptions()) == [closer]


def test_a_box_between_two_men_gives_way_to_the_men_seen_closer():
    """vtest 160: the COCO SSD's first-pass box between the middle and right man's."""
    window = (323, 103, 618, 398)
    right, between = _p((492, 215, 529, 297), 0.95), _p((459, 209, 490, 287), 0.81)
    seen = [_p((500, 222, 540, 307), 0.99), _p((475, 198, 505, 286), 0.93)]
    assert merge_window([right, between], seen, window, SIZE, ZoomOptions()) == seen


def test_a_find_the_closer_look_does_not_make_again_is_kept_weak_or_sure():
    """vtest frame 100: a man half behind a sign, weak on both looks. Dropped, he was left
    visible; kept, he is masked (fail closed)."""
    window = (288, 79, 581, 372)
    hidden, sure = _p((420, 188, 448, 261), 0.3), _p((300, 200, 330, 280), 0.8)
    seen = [_p((374, 187, 405, 265), 0.9)]
    out = merge_window([hidden, sure], seen, window, SIZE, ZoomOptions())
    assert [id(p) for p in out] == [id(hidden), id(sure), id(seen[0])]


def test_the_closer_look_finds_nobody_away_from_the_people_it_looks_at():
    """A cone beside the walkers, boxed at full size, is not a person: only window boxes on
    a person of the first pass count (the woman of the pair: 56 % of her box on it)."""
    anchors = [np.array([497, 148, 530, 222.0])]
    woman, cone = _p(COUPLE["woman"]), _p((560, 200, 580, 230))
    assert anchored([woman, cone], anchors, ZoomOptions().anchor_share) == [woman]


def test_a_person_the_closer_look_missed_is_kept():
    window = (368, 35, 668, 335)
    alone = _p((400, 100, 430, 175))
    out = merge_window([alone], [_p(COUPLE["man"])], window, SIZE, ZoomOptions())
    assert len(out) == 2 and any(p is alone for p in out)


def test_a_weak_sliver_at_the_frame_edge_is_not_taken_by_its_neighbours_closer_box():
    """vtest_0625_crop: a walker cut by the left edge, under a neighbour's box."""
    window = (0, 100, 300, 400)
    sliver, neighbour = _p((1, 145, 20, 233), 0.3), _p((5, 139, 26, 212), 0.97)
    out = merge_window([sliver, neighbour], [_p((5, 140, 26, 212), 0.98)], window, SIZE,
                       ZoomOptions())
    assert any(p is sliver for p in out) and len(out) == 2


def test_people_cut_by_the_window_border_are_left_to_the_first_pass():
    window = (368, 35, 668, 335)
    whole = _p((640, 100, 690, 200))  # crosses the window's right border
    cut = _p((650, 100, 668, 200), 0.95)  # what the window saw of them
    out = merge_window([whole], [cut], window, SIZE, ZoomOptions())
    assert [p is whole for p in out] == [True]
    # At the frame's own border a cut person is all there is: they are kept.
    edge = (468, 35, 768, 335)
    out = merge_window([], [_p((750, 100, 768, 200))], edge, SIZE, ZoomOptions())
    assert len(out) == 1


def test_one_person_seen_in_two_windows_is_one_box():
    window = (368, 35, 668, 335)
    out = merge_window([_p((450, 100, 480, 175), 0.6)], [_p((451, 101, 480, 176), 0.9)],
                       (300, 35, 600, 335), SIZE, ZoomOptions())
    assert len(out) == 1 and out[0].score == pytest.approx(0.9)  # window over frame
    out = merge_window(out, [_p((450, 100, 481, 175), 0.8)], window, SIZE, ZoomOptions())
    assert len(out) == 1 and out[0].score == pytest.approx(0.8)  # the last look decides


def test_shift_moves_boxes_and_keypoints_into_the_frame():
    kp = np.array([[10, 20, 0.9]] * 17, np.float32)
    p = Person(box=np.array([0, 0, 30, 70], np.float32), score=0.8, keypoints_coco17=kp)
    (q,) = shift([p], (100, 50, 400, 350))
    assert q.box.tolist() == [100, 50, 130, 120]
    assert q.keypoints_coco17[0].tolist() == pytest.approx([110, 70, 0.9])
    assert p.keypoints_coco17[0, 0] == 10  # the window's own result is not changed


def test_fusion_takes_the_closer_look_only_for_small_people():
    calls = []

    def detector(image):
        """One box over the couple on the whole frame; the two of them on a window."""
        calls.append(image.shape[:2])
        if image.shape[:2] == SIZE:
            return [_p((497, 148, 530, 222), 0.99)]
        x0, y0 = fused.last_windows[0][:2]
        return [_p((b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0), 0.9) for b in COUPLE.values()]

    fused = FusedPeople([DetectorSpec("a", detector)], zoom=ZoomOptions())
    out = fused(np.zeros(SIZE + (3,), np.uint8))
    assert calls == [SIZE, (296, 296)]  # four heights of the 74 px box
    assert sorted(tuple(np.round(p.box).astype(int)) for p in out) == sorted(COUPLE.values())
    assert "ZoomOptions" in fused.model_id  # cached perception knows it looked closer
    calls.clear()
    big = FusedPeople([DetectorSpec("a", lambda image: [_p((100, 20, 400, 560))])],
                      zoom=ZoomOptions())
    assert len(big(np.zeros(SIZE + (3,), np.uint8))) == 1 and big.last_windows == []


def test_bad_zoom_options_are_named():
    with pytest.raises(UsageError, match="small_share"):
        ZoomOptions(small_share=0)
    with pytest.raises(UsageError, match="max_windows"):
        ZoomOptions(max_windows=-1)


def test_the_couple_at_vtest_100_are_two_people(perceiver, street_frame):
    """The real detectors, fused, with and without the closer look."""
    image = street_frame(100)
    fused = perceiver.people.detector
    zoom = fused.zoom
    try:
        fused.zoom = None
        before = fused(image)
    finally:
        fused.zoom = zoom
    after = fused(image)

    def sure_on(box, people):
        return [p for p in people if p.score >= 0.5 and box_iou(p.box, np.array(box)) >= 0.5]

    assert not sure_on(COUPLE["woman"], before)  # one box for the two of them
    assert len(sure_on(COUPLE["man"], after)) == 1
    assert len(sure_on(COUPLE["woman"], after)) == 1


def test_video_frames_get_no_closer_look_and_photos_keep_it(perceiver, street_frame):
    """Tracking carries people between video frames; the closer look's windows move with
    them and unsettled the tracks (vtest 650-679: 276 replaced, 11 masked, 0 alternations
    without it, 246, 17, 1 with it), so only photos get it."""
    from understudy.scene import Frame

    fused = perceiver.people.detector
    assert fused.zoom is not None
    frames = [Frame(street_frame(i), "vtest.avi", i) for i in (100, 101)]
    looked = []
    for _ in perceiver.perceive_stream(iter(frames)):
        looked.append((fused.zoom, fused.last_windows))
    assert looked and all(zoom is None and windows == [] for zoom, windows in looked)
    assert fused.zoom is not None  # restored for the photos that follow
    perceiver.perceive(frames[0])
    assert fused.last_windows
