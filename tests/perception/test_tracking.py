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
    # No evidence on this frame, but the track is sure (0.9): the same person, not uncertain.
    assert held.interpolated and not held.uncertain and held.track_score == pytest.approx(0.9)
    assert scenes[3].people[0].track_id != scenes[9].people[0].track_id


def weak_scene(t, score):
    scene = moving_scene(t)
    scene.people[0].score = score
    return scene


def test_a_weak_track_is_held_uncertain():
    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=2)).run(
        weak_scene(t, 0.3) if t < 4 else moving_scene(t, False) for t in range(8)))
    held = scenes[4].people[0]
    assert held.interpolated and held.uncertain  # nothing sure about it: the guard masks it


def test_weak_frames_of_a_sure_track_are_sure():
    """issue 20: a walker scored 0.6 on most frames and 0.3 on some must not blink between a
    stand-in and a black silhouette: the perceiver's threshold reads the track's best score,
    including a sure detection up to ``confirm_window`` frames later."""
    from understudy.perception.perceiver import Perceiver, PerceptionOptions

    scores = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.8, 0.3, 0.3, 0.3, 0.3]
    perceiver = Perceiver(PerceptionOptions(target="people"), faces=lambda image: [],
                          people=object())
    perceiver.detect = lambda frame: weak_scene(frame.index, scores[frame.index])
    frames = [Frame(np.zeros((100, 200, 3), np.uint8), "v.mp4", t) for t in range(12)]
    scenes = list(perceiver.perceive_stream(frames))
    assert [len(s.people) for s in scenes] == [1] * 12
    assert not any(s.people[0].uncertain for s in scenes)
    assert all(s.people[0].track_score == pytest.approx(0.8) for s in scenes)

    # The same weak walker with no sure frame stays uncertain on every frame: masked, steadily.
    perceiver.detect = lambda frame: weak_scene(frame.index, 0.3)
    assert all(s.people[0].uncertain for s in perceiver.perceive_stream(frames))
    # One image (no track) is judged on its own score.
    perceiver.detect = lambda frame: weak_scene(0, 0.3)
    assert perceiver.perceive(frames[0]).people[0].uncertain


def posed_scene(t, posed):
    scene = moving_scene(t)
    person = scene.people[0]
    if posed:
        x = float(person.box[0])
        k2 = np.zeros((33, 3), np.float32)
        k2[:, 0], k2[:, 1], k2[:, 2] = x + np.linspace(0, 20, 33), np.linspace(20, 80, 33), 0.9
        person.keypoints2d = k2
        person.keypoints3d = np.full((33, 4), 0.1 * t, np.float32)
        person.keypoints3d[:, 3] = 0.9  # visibility
    return scene


def test_a_frame_without_landmarks_borrows_the_tracks_pose():
    """issue 20: where the landmark model misses a tracked person for a frame, the pose of the
    neighbouring frames is interpolated and moved with the box, instead of masking them."""
    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(
        posed_scene(t, t != 5) for t in range(10)))
    person = scenes[5].people[0]
    assert person.pose_from_track and not scenes[4].people[0].pose_from_track
    x = 10 + 5 * 5  # the box on frame 5: the borrowed 2D landmarks lie in it
    np.testing.assert_allclose(person.keypoints2d[:, 0], x + np.linspace(0, 20, 33), atol=1e-3)
    np.testing.assert_allclose(person.keypoints3d[:, :3], 0.5, atol=1e-6)  # between 0.4 and 0.6
    # Landmarks that cannot orient a body (shoulders and hips unseen) are replaced the same way.
    scenes = [posed_scene(t, True) for t in range(10)]
    scenes[5].people[0].keypoints2d[[11, 12, 23, 24], 2] = 0.05
    person = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(scenes))[5].people[0]
    assert person.pose_from_track and person.keypoints2d[11, 2] == pytest.approx(0.9)
    # Beyond the window held back there is nothing to borrow: the person keeps no pose (the
    # method decides).
    far = list(Tracker(TrackingOptions(max_gap=1, hold=0, confirm_window=3)).run(
        posed_scene(t, t < 2) for t in range(8)))
    assert far[7].people[0].keypoints2d is None and not far[7].people[0].pose_from_track


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


def test_landmarks_are_smoothed_along_the_track_from_measured_frames_only():
    """issue 20: a stand-in fitted to each frame's raw landmarks jitters. Each measured pose is
    averaged with its neighbours' (moved into its box; its own counts twice), always from the
    measured values, so the filter does not feed on itself."""
    scenes = [posed_scene(t, True) for t in range(7)]
    scenes[3].people[0].keypoints2d[:, 1] += 8.0  # one frame's landmarks jump 8 px down
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=1)).run(scenes))
    dy = [float(s.people[0].keypoints2d[0, 1]) - 20.0 for s in out]
    assert dy[3] == pytest.approx(4.0, abs=1e-4)  # (2 * 8 + 0 + 0) / 4
    assert dy[2] == pytest.approx(2.0, abs=1e-4) and dy[4] == pytest.approx(2.0, abs=1e-4)
    assert dy[0] == pytest.approx(0.0, abs=1e-4) and dy[6] == pytest.approx(0.0, abs=1e-4)
    assert out[3].people[0].keypoints2d[0, 2] == pytest.approx(0.9)  # visibility is its own
    off = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=0)).run(
        [posed_scene(t, True) for t in range(3)]))
    assert off[1].people[0].keypoints2d[0, 1] == pytest.approx(20.0)


def edge_scene(t, last_seen=5, size=(100, 200), enter=False):
    """A walker moving 8 px a frame: out through the right edge (detected until
    ``last_seen``) or, with ``enter``, in through the left edge (detected from frame 4)."""
    h, w = size
    frame = Frame(np.zeros((*size, 3), np.uint8), "v.mp4", t)
    x = (w - 60 + 8 * t) if not enter else (-20 + 8 * (t - 4))
    box = np.array([max(x, 0), 20, min(x + 20, w), 80], np.float32)
    seen = t <= last_seen if not enter else t >= 4
    if not seen or box[2] - box[0] < 2:
        return Scene(frame, people=[], target="people"), box
    mask = np.zeros(size, bool)
    mask[20:80, int(box[0]):int(box[2])] = True
    k2 = np.zeros((33, 3), np.float32)
    k2[:, 0], k2[:, 1], k2[:, 2] = x + 10, 50, 1.0
    return Scene(frame, people=[Person(box, 0.9, mask=mask, keypoints2d=k2)],
                 target="people"), box


def test_a_walker_leaving_through_the_edge_is_carried_while_in_view():
    """Detectors lose a person at the edge while a sliver is still in view (vtest frame 522:
    11 px of a walker, three frames after his last detection): the track is carried out at
    its speed, for as long as any of the box is in view, and no further."""
    truth = {t: edge_scene(t)[1] for t in range(12)}
    scenes = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(
        edge_scene(t)[0] for t in range(12)))
    for t in range(6, 12):
        visible = truth[t][2] - truth[t][0] >= 2
        people = scenes[t].people
        assert bool(people) == visible, (t, [p.box for p in people])
        if visible:
            (p,) = people
            assert p.interpolated and p.box[0] <= truth[t][0] + 1 and p.box[2] == 200
            assert p.mask[50, int(truth[t][0]) + 1]  # the sliver in view is masked
            assert abs(p.keypoints2d[0, 0] - (truth[t][0] + 10)) < 1.5  # moved along


def test_a_walker_entering_is_covered_before_the_first_detection():
    truth = {t: edge_scene(t, enter=True)[1] for t in range(10)}
    scenes = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(
        edge_scene(t, enter=True)[0] for t in range(10)))
    for t in range(4):
        visible = truth[t][2] - truth[t][0] >= 2
        assert bool(scenes[t].people) == visible, t
        if visible:
            assert scenes[t].people[0].box[0] == 0
            assert scenes[t].people[0].box[2] >= truth[t][2] - 1


def test_a_track_ending_inside_the_frame_is_not_carried():
    scenes = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(
        moving_scene(t, t < 5) for t in range(10)))
    assert all(not s.people for s in scenes[5:])


def test_a_track_gone_through_the_edge_does_not_jump_to_a_newcomer():
    """vtest frames 500-529: the track of a man who left on the right was given to a walker
    who appeared 70 px inside the frame three frames later; his mask was interpolated onto
    that walker's path and he was left visible on the frames between."""
    def scene(t):
        s, _ = edge_scene(t)
        if t >= 8:  # someone else, inside the frame, walking the other way
            x = 150 - 4 * (t - 8)
            mask = np.zeros((100, 200), bool)
            mask[30:90, x:x + 20] = True
            s.people.append(Person(np.array([x, 30, x + 20, 90], np.float32), 0.9, mask=mask))
        return s

    scenes = list(Tracker(TrackingOptions(max_gap=5, hold=0)).run(scene(t) for t in range(14)))
    walker = {p.track_id for s in scenes[:6] for p in s.people}
    newcomer = {p.track_id for s in scenes[8:] for p in s.people if p.box[0] < 160}
    assert len(walker) == 1 and not walker & newcomer
    # And nothing is interpolated between the two on the frames in between.
    assert all(p.box[0] >= 180 or not p.interpolated for s in scenes[6:8] for p in s.people)


def test_a_large_box_does_not_jump_to_a_small_one_far_away():
    """The centre shift allowed per frame grows with the box: a walker's large box (street
    clip, entering at the bottom) was matched to a 20 px traffic cone 300 px away six frames
    later, and the interpolated mask swept across the frame in between."""
    def scene(t):
        frame = Frame(np.zeros((300, 400, 3), np.uint8), "v.mp4", t)
        people = []
        if t < 3:
            people.append(Person(np.array([200, 120, 290, 300], np.float32), 0.9))
        if t >= 6:
            people.append(Person(np.array([40, 40, 60, 60], np.float32), 0.9))
        return Scene(frame, people=people, target="people")

    scenes = list(Tracker(TrackingOptions(max_gap=5, hold=0)).run(scene(t) for t in range(9)))
    assert {p.track_id for s in scenes[:3] for p in s.people}.isdisjoint(
        {p.track_id for s in scenes[6:] for p in s.people})
    assert all(not s.people for s in scenes[3:6])  # nothing swept across in between


def test_a_box_as_wide_as_the_street_does_not_take_a_walkers_track():
    """Frames 235-240 of vtest: a detector's 0.2 box 630 px wide (about a walker's height)
    was matched to a walker's track by distance, took his 0.98 track score, and its region
    was masked across the frame between his stand-ins."""
    def scene(t):
        frame = Frame(np.zeros((300, 800, 3), np.uint8), "v.mp4", t)
        if t in (3, 4):
            box = [90, 80, 720, 250]
        else:
            box = [400 + 2 * t, 120, 440 + 2 * t, 240]
        return Scene(frame, people=[Person(np.array(box, np.float32), 0.9)], target="people")

    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(scene(t) for t in range(8)))
    walker = {p.track_id for t in (0, 1, 2, 5, 6, 7) for p in scenes[t].people
              if p.box[2] - p.box[0] < 100}
    wide = {p.track_id for t in (3, 4) for p in scenes[t].people if p.box[2] - p.box[0] > 500}
    assert len(walker) == 1 and wide and walker.isdisjoint(wide)


def test_a_long_sure_track_stays_sure_after_its_sure_frames_are_forgotten():
    """The tracker forgets frames older than twice its look-ahead; a walker scored 0.9 for 40
    frames and 0.4 after was masked from then on (vtest frames 243-253)."""
    def scene(t):
        frame = Frame(np.zeros((100, 400, 3), np.uint8), "v.mp4", t)
        x = 10 + 2 * t
        return Scene(frame, people=[Person(np.array([x, 20, x + 20, 80], np.float32),
                                           0.9 if t < 40 else 0.4)], target="people")

    scenes = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(scene(t) for t in range(70)))
    assert len({p.track_id for s in scenes for p in s.people}) == 1
    assert all(p.track_score == pytest.approx(0.9) for s in scenes for p in s.people)


def test_a_filled_in_face_goes_to_the_person_at_whose_head_it_is():
    """issue 20: a walker's face found on one frame and held on the next became a stray face
    there, and people mode blurred it over his stand-in's head."""
    def scene(t):
        s = moving_scene(t)
        if t == 2:  # the detector misses the face on frame 2; the person it still finds
            s.faces = []
            s.people[0].faces = []
        else:
            s.people[0].faces = list(s.faces)
        return s

    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=2)).run(scene(t) for t in range(5)))
    person, faces = scenes[2].people[0], scenes[2].faces
    assert len(faces) == 1 and faces[0].interpolated
    assert person.faces == faces  # theirs: no stray face region over their stand-in


def test_weak_second_finds_of_a_walker_anchor_no_fill():
    """vtest 650-679: weak boxes inside three walkers on frames 1, 7 and 13 were linked into one
    track, and the boxes interpolated between them drifted over the pavement between the
    walkers, masked black on 10 frames. A weak track seen on its own is still filled."""
    def scene(t):
        s = moving_scene(t)
        x = 10 + 5 * t
        if t in (1, 7, 13):  # inside the walker's box
            s.people.append(Person(np.array([x + 2, 30, x + 18, 75], np.float32), 0.2))
        if t in (1, 4):  # someone weak, on their own
            s.people.append(Person(np.array([150, 20, 170, 80], np.float32), 0.2))
        return s

    scenes = list(Tracker(TrackingOptions(max_gap=5, hold=0)).run(scene(t) for t in range(15)))
    for t in (2, 3, 5, 6, 8, 9, 10, 11, 12):
        inside = [p for p in scenes[t].people if p.box[0] < 140 and p.score < 0.5]
        assert not inside, (t, [p.box for p in inside])
    for t in (2, 3):
        (alone,) = [p for p in scenes[t].people if p.box[0] >= 140]
        assert alone.interpolated


def test_the_speed_through_the_edge_is_measured_over_three_detections():
    """From two detections a walker entering on the right of vtest 421-424 measured 1 px a
    frame, the jitter of his cut box, and was carried in over empty pavement nine frames
    before he came into view. Two detections carry nobody through the edge."""
    def scene(t):
        frame = Frame(np.zeros((100, 200, 3), np.uint8), "v.mp4", t)
        people = []
        if t >= 8:  # cut by the left edge, the box growing 1 px a frame
            people.append(Person(np.array([0, 20, 12 + (t - 8), 80], np.float32), 0.9))
        return Scene(frame, people=people, target="people")

    scenes = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(scene(t) for t in range(10)))
    assert all(not s.people for s in scenes[:8]), [s.people[0].box for s in scenes[:8]
                                                   if s.people]


def test_an_upside_down_pose_between_two_upright_ones_gives_way_to_theirs():
    """vtest 151: MediaPipe posed a 45 px walker upside down on one frame. Averaged into its
    neighbours it folded their landmarks to a twelfth and a quarter of his height, and RefSD
    masked him on both frames; it is now replaced by theirs and averaged into nobody's."""
    scenes = [posed_scene(t, True) for t in range(7)]
    k = scenes[3].people[0].keypoints2d
    k[:, 1] = 100.0 - k[:, 1]  # head at the feet
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=1)).run(scenes))
    upright = np.linspace(20, 80, 33)
    flipped = out[3].people[0]
    assert flipped.pose_from_track
    np.testing.assert_allclose(flipped.keypoints2d[:, 1], upright, atol=1e-3)
    for t in (2, 4):
        np.testing.assert_allclose(out[t].people[0].keypoints2d[:, 1], upright, atol=1e-3)


def test_landmarks_over_a_sliver_of_the_box_borrow_the_tracks_pose():
    """Landmarks spanning under MIN_LANDMARK_SPAN of the box are a part or someone else, which
    RefSD refuses: without MoveNet's keypoints to fall back on, the track's pose serves instead
    of masking the person for the frame."""
    scenes = [posed_scene(t, True) for t in range(10)]
    k = scenes[5].people[0].keypoints2d
    k[:, 1] = 20.0 + (k[:, 1] - 20.0) / 6  # all within the top sixth of the box
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=0)).run(scenes))
    person = out[5].people[0]
    assert person.pose_from_track
    np.testing.assert_allclose(person.keypoints2d[:, 1], np.linspace(20, 80, 33), atol=1e-3)
    # With MoveNet's keypoints RefSD has a fallback of its own: the landmarks stay as they are.
    scenes = [posed_scene(t, True) for t in range(10)]
    k = scenes[5].people[0].keypoints2d
    k[:, 1] = 20.0 + (k[:, 1] - 20.0) / 6
    scenes[5].people[0].keypoints_coco17 = np.full((17, 3), 0.5, np.float32)
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=0)).run(scenes))
    assert not out[5].people[0].pose_from_track


def test_a_pose_on_its_head_is_not_lent_and_borrows_an_upright_one():
    """vtest 757-759: MediaPipe turned a woman walking behind a man upside down on a run of
    frames; lent to her next frames (which had no landmarks of their own), it stood her
    stand-in on its head there. Such a pose lends nothing, and its own frames borrow the
    track's upright pose instead (RefSD refuses it; ``posture.upside_down``)."""
    def scenes():
        made = [posed_scene(t, t != 3) for t in range(9)]
        for t in (4, 5):
            k = made[t].people[0].keypoints2d
            k[:, 1] = 100.0 - k[:, 1]  # head at the feet
        return made

    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=0)).run(scenes()))
    for t in (3, 4, 5):
        person = out[t].people[0]
        assert person.pose_from_track, t
        k = person.keypoints2d
        assert k[0, 1] < k[[23, 24], 1].min(), (t, k[0, 1], k[[23, 24], 1])
    # With MoveNet's keypoints RefSD has a fallback of its own: the landmarks stay as they are.
    made = scenes()
    made[4].people[0].keypoints_coco17 = np.full((17, 3), 0.5, np.float32)
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0, smooth=0)).run(made))
    assert not out[4].people[0].pose_from_track


def residual_scene(t, residual: set[int], taller: int = 0):
    """A posed walker; on the frames of ``residual`` the detectors lost him and the residual
    guard found his pixels instead: uncertain, no landmarks of their own (vtest 106)."""
    scene = posed_scene(t, t not in residual)
    if t in residual:
        person = scene.people[0]
        person.box[1] -= taller  # the blob took something above his head along
        person.score, person.uncertain, person.source = 0.3, True, "residual"
    return scene


def test_a_residual_find_between_detections_of_a_sure_walker_is_him():
    """vtest 100-129: the detectors lost a walker for one frame; the residual guard's find of
    his pixels (uncertain) took the frame, and his stand-in blinked to black and back."""
    out = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(
        residual_scene(t, {5}, taller=10) for t in range(10)))
    person = out[5].people[0]
    assert person.source == "residual" and person.pose_from_track and not person.uncertain
    assert person.box[1] == pytest.approx(10.0)  # his region is still all of the blob
    assert len({p.track_id for s in out for p in s.people}) == 1


def test_a_residual_find_the_detections_do_not_vouch_for_stays_uncertain():
    # After the walker's last detection (an end, not a gap): nothing on the far side.
    ends = list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(
        residual_scene(t, {7, 8}) for t in range(9)))
    assert ends[8].people[0].uncertain
    # A gap wider than max_gap between his detections.
    wide = list(Tracker(TrackingOptions(max_gap=2, hold=0)).run(
        residual_scene(t, {3, 4, 5}) for t in range(9)))
    assert all(wide[t].people[0].uncertain for t in (3, 4, 5))
    # A weak track (0.3 at best) vouches for nobody.
    weak = [residual_scene(t, {5}) for t in range(10)]
    for s in weak:
        s.people[0].score = 0.3
    assert list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(weak))[5].people[0].uncertain
    # Without a pose lent by the track, a stand-in could not follow him: he stays masked.
    bare = [residual_scene(t, {5}) for t in range(10)]
    for s in bare:
        s.people[0].keypoints2d = None
    assert list(Tracker(TrackingOptions(max_gap=3, hold=0)).run(bare))[5].people[0].uncertain


def jump_scene(t: int, jump_to: tuple[int, int] | None) -> Scene:
    """A walker 100 px high moving 5 px a frame, seen on frames 0-2, missed on 3-6, and on
    frames 7-9 a person of his size at ``jump_to`` (x, y of the box's corner)."""
    frame = Frame(np.zeros((400, 600, 3), np.uint8), "v.mp4", t)
    if t < 3:
        x, y = 100 + 5 * t, 150
    elif t >= 7 and jump_to is not None:
        x, y = jump_to[0] + 5 * (t - 7), jump_to[1]
    else:
        return Scene(frame, target="people")
    return Scene(frame, people=[Person(np.array([x, y, x + 40, y + 100], np.float32), 0.9)],
                 target="people")


def test_a_track_does_not_jump_farther_than_a_person_walks_in_the_gap():
    """vtest 702-707: a walker's track, missed for five frames, took a face found at a car's
    boot 1.7 of his heights away, and the gap fill flew his stand-in across the road between
    them. Within the per-frame shift allowed, but no walker moves that far in five frames."""
    far = list(Tracker(TrackingOptions(max_gap=5, hold=0)).run(
        jump_scene(t, (300, 80)) for t in range(10)))
    assert {p.track_id for s in far[:3] for p in s.people}.isdisjoint(
        {p.track_id for s in far[7:] for p in s.people})
    assert all(not s.people for s in far[3:7])  # nothing flies across in between
    # Where he could have walked (35 px on from his last box after five frames), he is himself.
    near = list(Tracker(TrackingOptions(max_gap=5, hold=0)).run(
        jump_scene(t, (145, 150)) for t in range(10)))
    assert len({p.track_id for s in near for p in s.people}) == 1
    assert all(len(s.people) == 1 and s.people[0].interpolated for s in near[3:7])
    # The old per-frame rule alone would have taken the far one too (the test is the new rule).
    loose = TrackingOptions(max_gap=5, hold=0, person_slack=10.0)
    assert len({p.track_id for s in Tracker(loose).run(jump_scene(t, (300, 80))
                                                       for t in range(10))
                for p in s.people}) == 1


def fast_walker(t: int, face_found: bool, owned: bool = True) -> Scene:
    """A walker moving 13 px a frame with a 9x12 px face (vtest 655-659), found by the face
    detector on some frames only; on those the face is on his head (``owned``)."""
    frame = Frame(np.zeros((200, 400, 3), np.uint8), "v.mp4", t)
    x = 300 - 13 * t
    person = Person(np.array([x, 40, x + 40, 160], np.float32), 0.9)
    faces = [Face(np.array([x + 15, 44, x + 24, 56], np.float32), 0.3)] if face_found else []
    if owned:
        person.faces = list(faces)
    return Scene(frame, people=[person], faces=faces, target="people")


def test_a_fast_walkers_face_stays_his_and_held_frames_follow_him():
    """His face moves most of its diagonal a frame, so by box alone every find started a face
    track of its own, held still where he had been: stray faces on the pavement."""
    found = {2, 3, 4, 6}
    scenes = list(Tracker(TrackingOptions(max_gap=3, hold=2)).run(
        fast_walker(t, t in found) for t in range(10)))
    assert len({f.track_id for s in scenes for f in s.faces}) == 1
    for s in scenes:
        t = s.frame.index
        x = 300 - 13 * t
        assert len(s.faces) == (1 if 0 <= t <= 8 else 0), t
        for face in s.faces:  # on his head, found, filled in or held
            np.testing.assert_allclose(face.box, [x + 15, 44, x + 24, 56], atol=1e-3)
            assert s.people[0].faces == [face]
    # Faces on nobody's head keep the rule by box: these fast ones are four tracks, held
    # where they were found.
    loose = list(Tracker(TrackingOptions(max_gap=3, hold=2)).run(
        fast_walker(t, t in found, owned=False) for t in range(10)))
    assert len({f.track_id for s in loose for f in s.faces}) == 4
