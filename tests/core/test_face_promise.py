"""The promise of face anonymization on a real photo: dlib's face recognizer (CC0 weights)
matches the original to itself and to a weak blur, and no longer to the strong baselines."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.run.guard import run_guarded
from understudy.methods.registry import load_method
from understudy.perception.faces import CenterFaceDetector
from understudy.scene import Frame, Scene

dlib = pytest.importorskip("dlib")
models = pytest.importorskip("face_recognition_models")

MATCH_DISTANCE = 0.6  # dlib's standard verification threshold


@pytest.fixture(scope="module")
def recognizer():
    predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def embed(image: np.ndarray, box: np.ndarray) -> np.ndarray:
        rect = dlib.rectangle(*[int(v) for v in box])
        shape = predictor(image, rect)
        return np.array(encoder.compute_face_descriptor(image, shape))

    return embed


@pytest.fixture(scope="module")
def detected(astronaut):
    faces = CenterFaceDetector()(astronaut)
    assert len(faces) == 1, "CenterFace should find the astronaut's face"
    return Scene(Frame(astronaut.copy(), "astronaut.jpg"), faces=faces, target="faces")


@pytest.mark.parametrize("method, still_matches", [
    ("blur:weak", True), ("blur:strong", False), ("pixelate", False), ("maskout", False)])
def test_recognizer_verdict(method, still_matches, detected, recognizer, astronaut):
    box = detected.faces[0].box
    original = recognizer(astronaut, box)
    result = run_guarded(load_method(method), detected, np.random.default_rng(0))
    distance = float(np.linalg.norm(recognizer(result.image, box) - original))
    assert (distance < MATCH_DISTANCE) == still_matches, f"{method}: distance {distance:.3f}"
