"""Shared RefSD fixtures: one anny model per session (first build ~50 s, then ~1-3 s), and
the astronaut as a one-person scene with MediaPipe landmarks and mask."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.scene import Frame, Person, Scene


@pytest.fixture(scope="session")
def body():
    from understudy.body.model import load_body_model

    return load_body_model()


@pytest.fixture(scope="session")
def astronaut_person(astronaut):
    """The astronaut as perception reports her: MediaPipe landmarks and mask (> 0.5)."""
    from understudy.perception.pose import MediaPipePose

    h, w = astronaut.shape[:2]
    pose = MediaPipePose()
    try:
        est = pose(astronaut, np.array([0, 0, w, h], np.float32))
    finally:
        pose.close()
    assert est is not None
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = est.crop
    mask[y0:y1, x0:x1] = est.mask > 0.5
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    return Person(box, 0.9, mask=mask, keypoints2d=est.keypoints2d, keypoints3d=est.keypoints3d)


def make_scene(image, people, seed=0, source="astronaut.jpg") -> Scene:
    return Scene(Frame(image, source), people=list(people), target="people", seed=seed)


@pytest.fixture(scope="session")
def astronaut_scene(astronaut, astronaut_person):
    return make_scene(astronaut, [astronaut_person])


@pytest.fixture(scope="session")
def render_result(body, astronaut_scene):
    """RefSD in render mode on the astronaut (asked for a man in his 50s), guarded."""
    from understudy.run.guard import run_guarded
    from understudy.methods.refsd import RefSD, RefSDOptions

    method = RefSD(RefSDOptions(attributes="gender=male,age=50s,ethnicity=black"), body=body)
    result = run_guarded(method, astronaut_scene, np.random.default_rng(0))
    method.close()
    return result, method
