"""The anonymizer's int8 CenterFace (quantized at first use) finds the faces the float graph
finds on real photos, alone (clear faces) and fused with YuNet (every face); and the default
face search finds small faces in camera-sized photos."""

from __future__ import annotations

import numpy as np
import pytest

import people_set
import photos

# Score drift between the two graphs on faces the float graph finds clearly (>= 0.3):
# <= 0.08 on these photos.
SCORE_TOLERANCE = 0.1
CLEAR = 0.3


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _real_photos() -> list[tuple[str, np.ndarray]]:
    found = [(name, image) for name, image, _ in photos.astronaut()]
    found += [(name, image) for name, image, _ in photos.face_recognition_photos()]
    found += [(name, image) for name, image, _ in photos.group_photos()]
    try:  # small faces (12-60 px) in real scenes, when apt-get could fetch them
        found += [(p.name, p.image) for p in people_set._opencv_photos()]
    except people_set.PhotosUnavailable:
        pass
    return found


@pytest.fixture(scope="module")
def detectors(tmp_path_factory):
    from understudy.perception.centerface_model import INT8_THRESHOLD
    from understudy.perception.faces import CenterFaceDetector, FaceDetectorOptions

    cache = str(tmp_path_factory.mktemp("models"))
    return (CenterFaceDetector(FaceDetectorOptions(max_side=800, cache_dir=cache)),
            CenterFaceDetector(FaceDetectorOptions(max_side=800, precision="int8",
                                                   threshold=INT8_THRESHOLD, cache_dir=cache)))


@pytest.fixture(scope="module")
def real_photos():
    return _real_photos()


def test_int8_finds_the_faces_the_float_graph_finds_clearly(detectors, real_photos):
    float_net, int8_net = detectors
    checked = 0
    for name, image in real_photos:
        quantized = int8_net(image)
        for face in (f for f in float_net(image) if f.score >= CLEAR):
            best = max(quantized, key=lambda f: _iou(face.box, f.box), default=None)
            assert best is not None and _iou(face.box, best.box) >= 0.5, \
                f"{name}: int8 missed the face at {face.box} (score {face.score:.2f})"
            assert abs(best.score - face.score) <= SCORE_TOLERANCE, \
                f"{name}: score {face.score:.2f} (float) became {best.score:.2f} (int8)"
            checked += 1
    assert checked >= 8  # astronaut + 6 face_recognition photos + the montages at least


def test_fused_with_yunet_int8_finds_every_face_float_finds(detectors, real_photos):
    """What the anonymizer runs: with YuNet at full resolution, the int8 graph (at its lower
    threshold) loses no face the float graph found, even borderline ones (a 12 px walker
    scored 0.22 by the float graph)."""
    from understudy.perception.yunet import FusedFaces, YuNetFaces, YuNetOptions

    yunet = YuNetFaces(YuNetOptions(max_side=0))
    float_net, int8_net = detectors
    with_float, with_int8 = FusedFaces([float_net, yunet]), FusedFaces([int8_net, yunet])
    for name, image in real_photos:
        found = with_int8(image)
        for face in with_float(image):
            assert any(_iou(face.box, f.box) >= 0.3 for f in found), \
                f"{name}: the int8 search missed the face at {face.box} ({face.score:.2f})"


def test_the_int8_graph_is_made_once_and_the_same_everywhere(detectors, tmp_path):
    """Made from the shipped graph and the bundled samples only: a second machine (another
    cache folder) makes the same bytes, and a made graph is reused, not rebuilt."""
    from understudy.perception.centerface_model import prepared_model
    from understudy.perception.faces import default_model_path

    _, int8_net = detectors
    made = int8_net.model_path
    stamp = made.stat().st_mtime_ns
    assert prepared_model(default_model_path(), "int8", made.parent) == made
    assert made.stat().st_mtime_ns == stamp
    again = prepared_model(default_model_path(), "int8", tmp_path)
    assert again.read_bytes() == made.read_bytes()


def test_a_16_px_face_in_a_12_mp_photo_is_found():
    """The astronaut shrunk until her face is ~16 px high, in a 4000x3000 frame (12 MP): the
    default search (YuNet at 3072 px long side) finds it. At 1280 px it would be 5 px high
    and was missed."""
    import cv2

    from understudy.perception.perceiver import default_face_detector

    (_, image, _), = photos.astronaut()
    detector = default_face_detector()
    (big,) = [f for f in detector(image) if f.score > 0.5]
    scale = 16.0 / float(big.box[3] - big.box[1])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((3000, 4000, 3), 120, np.uint8)
    canvas[2100:2100 + small.shape[0], 2900:2900 + small.shape[1]] = small
    cx, cy = ((big.box[0] + big.box[2]) / 2 * scale + 2900,
              (big.box[1] + big.box[3]) / 2 * scale + 2100)
    found = [f for f in detector(canvas) if f.box[0] < cx < f.box[2] and f.box[1] < cy < f.box[3]]
    assert any(8 <= f.box[3] - f.box[1] <= 26 for f in found), \
        f"the 16 px face was not found: {[f.box for f in found]}"
