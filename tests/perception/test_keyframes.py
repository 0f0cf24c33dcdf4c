"""Video keyframes (issue 18): full perception on keyframes, people carried along the optical
flow between them, and a new keyframe as soon as something may be uncovered."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.perception.keyframes import (
    CORNER_SPACING,
    MAX_CORNERS,
    KeyframeOptions,
    KeyframePerception,
    _corners,
    _moved_mask,
)
from understudy.scene import Face, Frame, Person, Scene

FIRST, COUNT = 200, 16  # vtest.avi frames: ~9 walkers each


@pytest.fixture(scope="module")
def street():
    from people_set import PhotosUnavailable, _video_frames, opencv_doc_dir

    try:
        frames = _video_frames(opencv_doc_dir() / "vtest.avi", set(range(FIRST, FIRST + COUNT)))
    except PhotosUnavailable as exc:
        pytest.skip(str(exc))
    return [frames[i] for i in sorted(frames)]


@pytest.fixture(scope="module")
def ssdlite():
    from understudy.perception.people import SSDLiteOptions, SSDLitePeople

    return SSDLitePeople(SSDLiteOptions())


def box_people(detector, image):
    """People with their boxes as masks: a stand-in for the full people stage."""
    people = []
    for p in detector(image):
        mask = np.zeros(image.shape[:2], bool)
        x0, y0, x1, y1 = [int(round(float(v))) for v in p.box]
        mask[y0:y1, x0:x1] = True
        people.append(Person(p.box, p.score, mask=mask))
    return people


class Counting:
    """A ``detect`` that records which frames it perceived in full."""

    def __init__(self, people):
        self.people = people  # frame -> people
        self.frames: list[int] = []

    def __call__(self, frame: Frame) -> Scene:
        self.frames.append(frame.index)
        return Scene(frame, people=self.people(frame), target="people")


QUIET = dict(new_inside=0.01, resize=100.0, motion_px=10**9)  # only the interval calls one


def test_carried_people_follow_the_walkers_on_the_street(street, ssdlite):
    """Between keyframes 0 and 8 each walker's carried box stays on the walker SSDLite finds
    on that frame (real frames, real flow), closer than where the keyframe left them."""
    detect = Counting(lambda frame: box_people(ssdlite, frame.image))
    reuse = KeyframePerception(detect, lambda image: [], KeyframeOptions(interval=8, **QUIET))
    frames = [Frame(img, "street.mp4", i) for i, img in enumerate(street[:9])]
    scenes = list(reuse.run(frames))
    assert detect.frames == [0, 8] and reuse.counts == {"first": 1, "carried": 7, "interval": 1}
    start = {i: p.box for i, p in enumerate(scenes[0].people)}
    errors, still = [], []
    for t in range(1, 8):
        for d in ssdlite(street[t]):
            if d.score < 0.5:
                continue
            # The walker's keyframe person: the one whose keyframe box overlapped most.
            i = max(start, key=lambda k: iou(start[k], d.box))
            if iou(start[i], d.box) < 0.3:
                continue
            carried = scenes[t].people[i]
            assert not carried.interpolated and carried.mask is not None
            # The walker's middle (SSDLite's boxes jitter by a few pixels from frame to frame).
            x0, y0, x1, y1 = [int(v) for v in d.box]
            body = np.zeros_like(carried.mask)
            body[y0 + (y1 - y0) // 10:y1 - (y1 - y0) // 10,
                 x0 + (x1 - x0) // 5:x1 - (x1 - x0) // 5] = True
            assert (carried.mask & body).sum() >= 0.9 * body.sum(), (t, d.box, carried.box)
            errors.append(abs(centre(carried.box) - centre(d.box)).max())
            still.append(abs(centre(start[i]) - centre(d.box)).max())
    assert len(errors) >= 8, errors
    # Flow beats standing still: the walkers moved, and the carried boxes moved with them.
    assert np.mean(errors) < 0.6 * np.mean(still), (np.mean(errors), np.mean(still))


def test_corners_on_the_people_box_are_the_whole_frame_corners(street):
    """The corners the flow follows, searched on the people's bounding box only, are those
    of the whole frame: masks anywhere, touching the frame's edges too."""
    import cv2

    rng = np.random.default_rng(0)
    compared = 0
    for image in street[::4]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        for _ in range(15):
            where = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(1, 9))):
                x0, y0 = int(rng.integers(-20, w - 5)), int(rng.integers(-20, h - 5))
                x1, y1 = x0 + int(rng.integers(2, 160)), y0 + int(rng.integers(2, 240))
                where[max(y0, 0):y1, max(x0, 0):x1] = 1
            whole = cv2.goodFeaturesToTrack(gray, MAX_CORNERS, 0.01, CORNER_SPACING, mask=where)
            np.testing.assert_array_equal(_corners(gray, where), whole)
            compared += len(whole)
    assert compared > 1000
    assert _corners(gray, np.zeros((h, w), np.uint8)) is None


def test_keyframes_are_deterministic(street, ssdlite):
    def run():
        detect = Counting(lambda frame: box_people(ssdlite, frame.image))
        reuse = KeyframePerception(detect, ssdlite, KeyframeOptions(interval=4))
        frames = [Frame(img, "street.mp4", i) for i, img in enumerate(street[:8])]
        return [(s.frame.index, [(p.box.tolist(), p.mask.tobytes()) for p in s.people])
                for s in reuse.run(frames)], detect.frames

    assert run() == run()


def textured(t: int, size=(120, 160)) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.ascontiguousarray(np.repeat(rng.integers(0, 255, (*size, 1), np.uint8), 3, 2))
    image[0, 0] = t  # the frame's number, for fake detectors
    return image


def walker(x: int, size=(120, 160), score=0.9) -> Person:
    mask = np.zeros(size, bool)
    mask[30:90, x:x + 20] = True
    return Person(np.array([x, 30, x + 20, 90], np.float32), score, mask=mask)


def test_a_new_person_calls_a_keyframe():
    detect = Counting(lambda frame: [walker(20)] + ([walker(110)] if frame.index >= 3 else []))

    def cheap(image):  # the newcomer shows from frame 3 on (its number is in pixel 0, 0)
        return [walker(110)] if image[0, 0, 0] >= 3 else []

    reuse = KeyframePerception(detect, cheap, KeyframeOptions(interval=10))
    scenes = list(reuse.run(Frame(textured(t), "v.mp4", t) for t in range(6)))
    assert detect.frames == [0, 3] and reuse.counts["new person"] == 1
    assert [len(s.people) for s in scenes] == [1, 1, 1, 2, 2, 2]


def test_a_cheap_find_a_keyframe_saw_nobody_at_calls_no_more_until_the_interval():
    """SSDLite boxed the street's sign posts on frame after frame, and the full perception
    dropped them as nobody (perception/second_look.py): every frame became a keyframe. The
    keyframe such a find called remembers it; the next scheduled keyframe forgets it."""
    detect = Counting(lambda frame: [walker(20)])

    def cheap(image):  # a sign post at x=110 that the full perception drops
        return [walker(20), walker(110, score=0.4)]

    reuse = KeyframePerception(detect, cheap, KeyframeOptions(interval=4, motion_px=10**9))
    scenes = list(reuse.run(Frame(textured(t), "v.mp4", t) for t in range(9)))
    assert detect.frames == [0, 1, 5, 6] and reuse.counts["new person"] == 2
    assert all(len(s.people) == 1 for s in scenes)


def test_a_person_growing_past_the_carried_mask_calls_a_keyframe():
    """Walking towards the camera: SSDLite's box 40 % taller than the carried person calls a
    keyframe; 40 % shorter (detectors disagree on box heights) does not."""
    for scale, keyframes in ((1.4, [0, 1, 2]), (0.6, [0])):
        detect = Counting(lambda frame: [walker(40)])

        def cheap(image, scale=scale):
            return [Person(np.array([40, 30, 60, 30 + 60 * scale], np.float32), 0.9)]

        reuse = KeyframePerception(detect, cheap, KeyframeOptions(interval=10, motion_px=10**9))
        list(reuse.run(Frame(textured(t), "v.mp4", t) for t in range(3)))
        assert detect.frames == keyframes, scale


def test_a_person_a_keyframe_loses_is_carried_on_then_dropped():
    """Detectors blink: a walker on vtest was found on frames 8-9 and 14-19 only. A person the
    next keyframe does not find stays ``lost_frames`` more frames (interpolated), then goes."""
    detect = Counting(lambda frame: [walker(40)] if frame.index == 0 else [])
    options = KeyframeOptions(interval=3, lost_frames=4, **QUIET)
    reuse = KeyframePerception(detect, lambda image: [], options)
    scenes = list(reuse.run(Frame(textured(t), "v.mp4", t) for t in range(12)))
    assert detect.frames == [0, 3, 6, 9]
    counts = [len(s.people) for s in scenes]
    assert counts == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]  # lost on 3, carried to 3 + 4
    assert not any(p.interpolated for s in scenes[:3] for p in s.people)
    assert all(p.interpolated for s in scenes[3:8] for p in s.people)
    # A weak find (MoveNet's street-wide boxes score 0.2-0.29) is not carried past its keyframe.
    detect = Counting(lambda frame: [walker(40, score=0.25)] if frame.index == 0 else [])
    reuse = KeyframePerception(detect, lambda image: [], options)
    counts = [len(s.people) for s in reuse.run(Frame(textured(t), "v.mp4", t)
                                                for t in range(6))]
    assert counts == [1, 1, 1, 0, 0, 0]


def test_carried_faces_stay_with_their_person_and_masks_grow_with_time():
    face = Face(np.array([45, 30, 55, 40], np.float32), 0.9)
    person = walker(40)
    person.faces = [face]
    detect = Counting(lambda frame: [person] if frame.index == 0 else [])
    reuse = KeyframePerception(detect, lambda image: [],
                               KeyframeOptions(interval=10, margin=0.05, margin_per_frame=0.02,
                                               **QUIET))
    scenes = list(reuse.run(Frame(textured(t), "v.mp4", t) for t in range(4)))
    areas = [int(s.people[0].mask.sum()) for s in scenes[1:]]
    assert areas == sorted(areas) and areas[0] > 60 * 20  # grown, and more each frame
    carried = scenes[2].people[0]
    assert len(carried.faces) == 1 and carried.faces[0] in scenes[2].faces


def test_a_mask_at_the_border_goes_on_beyond_it():
    """A walker entering at the right edge: his keyframe mask is the 6 px then in view; carried
    10 px inwards, the 10 px between him and the edge are his too."""
    mask = np.zeros((50, 100), bool)
    mask[10:40, 94:100] = True
    moved = _moved_mask(mask, np.array([-10.0, 0.0]), 0)
    assert moved[10:40, 84:100].all() and not moved[:10].any() and not moved[:, :84].any()
    inside = np.zeros((50, 100), bool)
    inside[10:40, 50:56] = True  # not at the border: only moved
    moved = _moved_mask(inside, np.array([-10.0, 0.0]), 0)
    assert moved.sum() == inside.sum() and moved[10:40, 40:46].all()


def test_only_pose_free_video_perception_uses_keyframes(people_perceiver):
    from understudy.methods.base import EVERYTHING_READ
    from understudy.methods.registry import get_spec
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    pixels = get_spec("maskout").reads
    assert build_perceiver(PerceptionOptions(target="people"), reads=pixels).keyframes
    assert build_perceiver(PerceptionOptions(target="people", full=True),
                           reads=pixels).keyframes is None
    assert build_perceiver(PerceptionOptions(target="people"),
                           reads=EVERYTHING_READ).keyframes is None
    assert build_perceiver(PerceptionOptions(target="people", keyframe_interval=1),
                           reads=pixels).keyframes is None
    assert build_perceiver(PerceptionOptions(target="faces"), reads=pixels).keyframes is None


@pytest.mark.slow
def test_keyframes_cover_what_every_frame_perception_covers(street):
    """16 street frames perceived every frame and with keyframes: the keyframe run perceives
    at most half the frames in full and leaves under 10 % of the every-frame run's region
    pixels uncovered (8.7 % measured: people the every-frame run's tracker holds or bridges
    from detections on frames the keyframe run only carries, a walker the detectors find on
    frames 8-9 and 14 only, slivers of walkers cut by the right edge; before the guard's
    growth, which the rendered comparison of ``benchmarks/video.py`` includes)."""
    from understudy.methods.registry import get_spec
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    pixels = get_spec("maskout").reads
    frames = [Frame(img, "street.mp4", i) for i, img in enumerate(street)]
    every = build_perceiver(PerceptionOptions(target="people", keyframe_interval=1),
                            reads=pixels)
    keyed = build_perceiver(PerceptionOptions(target="people"), reads=pixels)
    calls = []
    detect = keyed.detect
    keyed.detect = lambda frame: calls.append(frame.index) or detect(frame)
    ref = [covered(s) for s in every.perceive_stream(frames)]
    fast = [covered(s) for s in keyed.perceive_stream(frames)]
    assert len(calls) <= COUNT // 2, calls
    left = sum(int((r & ~f).sum()) for r, f in zip(ref, fast))
    assert left <= 0.10 * sum(int(r.sum()) for r in ref), left


def covered(scene: Scene) -> np.ndarray:
    out = np.zeros(scene.frame.size, bool)
    for region in scene.regions():
        out |= region.mask
    return out


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
