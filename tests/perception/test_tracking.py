"""Video: people and faces keep their track ids, and detector gaps are filled."""

from __future__ import annotations

import numpy as np
import pytest

import photos
from understudy.perception.tracking import Tracker, TrackingOptions
from understudy.scene import Face, Frame, Person, Scene


def moving_scene(t, present=True, size=(100, 200)):
    frame = Frame(np.zeros((*size, 3), np.uint8), "v.mp4", t)
    x = 10 + 5 * t
    mask = np.zeros(size, bool)
    mask[20:80, x:x + 20] = True
    people = [Person(np.array([x, 20, x + 20, 80], np.float32), 0.9, mask=mask)] if present else []
    faces = [Face(np.array([x + 5, 20, x + 15, 30], np.float32), 0.9)] if present else []
    return Scene(frame, people=people, faces=faces, target="people")


def test_gap_is_interpolated_and_ids_are_kept():
    missing = {4, 5, 6}
    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(
        moving_scene(t, t not in missing) for t in range(12)))
    assert len(scenes) == 12 and [s.frame.index for s in scenes] == list(range(12))
    ids = {p.track_id for s in scenes for p in s.people}
    assert len(ids) == 1 and len({f.track_id for s in scenes for f in s.faces}) == 1
    for t in missing:
        (person,), (face,) = scenes[t].people, scenes[t].faces
        assert person.interpolated and face.interpolated
        x = 10 + 5 * t
        np.testing.assert_allclose(person.box, [x, 20, x + 20, 80], atol=1e-4)
        np.testing.assert_allclose(face.box, [x + 5, 20, x + 15, 30], atol=1e-4)
        assert person.mask[50, x + 10] and not person.mask[50, x - 5]  # the mask moved along
    assert not any(p.interpolated for t in range(12) if t not in missing
                   for p in scenes[t].people)


def test_longer_gaps_are_not_bridged_but_ends_are_held():
    missing = set(range(3, 9))  # 6 frames > max_gap 3
    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=2)).run(
        moving_scene(t, t not in missing) for t in range(12)))
    counts = [len(s.people) for s in scenes]
    # Held two frames after the last and before the next detection, not in the middle.
    assert counts == [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]
    held = scenes[3].people[0]
    assert held.interpolated and held.uncertain  # no evidence: the guard masks it
    assert scenes[3].people[0].track_id != scenes[9].people[0].track_id


def mp_faces(detector, image):
    """Face boxes from MediaPipe face detection: the independent check."""
    h, w = image.shape[:2]
    result = detector.process(np.ascontiguousarray(image))
    boxes = []
    for d in result.detections or []:
        b = d.location_data.relative_bounding_box
        boxes.append(np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w,
                               (b.ymin + b.height) * h]))
    return boxes


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def video():
    """20 frames panning over two real people (a montage of two photos), 640x400."""
    strip = photos.montage(["biden.jpg", "obama.jpg"], height=400)
    return [np.ascontiguousarray(strip[:, 12 * t:12 * t + 640]) for t in range(20)]


def test_no_face_leaks_in_video_when_the_detector_blinks(video):
    from mediapipe.python.solutions import face_detection

    from understudy.run.guard import run_guarded
    from understudy.methods.registry import load_method
    from understudy.perception.faces import CenterFaceDetector
    from understudy.perception.perceiver import PerceptionOptions, Perceiver

    centerface = CenterFaceDetector()
    blink = {3, 4, 9, 14}  # frames where our detector "misses" every face

    class Blinking:
        model_path = "blinking"

        def __init__(self):
            self.n = 0

        def __call__(self, image):
            found = [] if self.n in blink else centerface(image)
            self.n += 1
            return found

    checker = face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    visible = [mp_faces(checker, frame) for frame in video]
    assert all(len(v) >= 1 for v in visible), "the test video must show faces on every frame"
    # Solid fill: this checks coverage (which pixels are changed), not the strength of a method.
    method = load_method("maskout")

    def leaks(scenes):
        out = []
        for scene in scenes:
            result = run_guarded(method, scene, np.random.default_rng(0))
            found = mp_faces(checker, result.image)
            out += [(scene.frame.index, f) for f in found
                    if any(iou(f, v) > 0.3 for v in visible[scene.frame.index])]
        return out

    frames = [Frame(img, "video.mp4", i) for i, img in enumerate(video)]
    tracked = Perceiver(PerceptionOptions(target="faces", max_gap=5), Blinking())
    assert leaks(tracked.perceive_stream(frames)) == []
    # The same blinking detector without tracking leaks on the blink frames: the check bites.
    plain = Perceiver(PerceptionOptions(target="faces"), Blinking())
    leaked = {i for i, _ in leaks(plain.perceive(f) for f in frames)}
    assert leaked and leaked <= blink
