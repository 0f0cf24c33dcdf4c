"""Video fits start from the track's previous fit (issue 20, item 1): fewer steps when warm,
and a warm start that no longer fits (the landmarks turned around) gives way to the closed
form instead of dragging the body into the wrong pose."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.body.fit import BodyFit, FitOptions, FitStart, fit_bodies


@pytest.fixture(scope="module")
def entry(astronaut_person, astronaut):
    h = int(np.ptp(np.nonzero(astronaut_person.mask)[0]))
    return {"keypoints2d": astronaut_person.keypoints2d,
            "keypoints3d": astronaut_person.keypoints3d, "phenotype": {}, "scale": h}


def fit_one(body, entry, size, **options) -> BodyFit:
    fit = fit_bodies(body, [entry], size, FitOptions(**options))[0]
    assert isinstance(fit, BodyFit), fit
    return fit


def test_a_warm_fit_reaches_in_a_few_steps_what_a_cold_one_needs_sixty_for(body, entry,
                                                                           astronaut):
    size = astronaut.shape[:2]
    cold = fit_one(body, entry, size)
    assert cold.start is not None and cold.start.bones.shape[1] == 3
    few = fit_one(body, entry, size, steps=5)
    warm = fit_one(body, {**entry, "warm": cold.start}, size, steps=0, warm_steps=5)
    assert warm.error_px <= cold.error_px * 1.15 + 0.5, (warm.error_px, cold.error_px)
    assert warm.error_px < few.error_px, (warm.error_px, few.error_px)


def test_a_warm_start_that_turned_around_gives_way_to_the_closed_form(body, entry, astronaut):
    """MediaPipe turns a walker around between two frames now and then: 15 warm steps from
    the old pose left a vtest walker 4 body heights off his landmarks."""
    size = astronaut.shape[:2]
    cold = fit_one(body, entry, size, steps=5)
    about = np.diag([-1.0, -1.0, 1.0])  # half a turn about the body's vertical (anny: +Z)
    turned = FitStart(cold.start.bones, cold.start.rotation @ about)
    warm = fit_one(body, {**entry, "warm": turned}, size, steps=5, warm_steps=5)
    assert warm.error_px <= cold.error_px * 1.15 + 0.5, (warm.error_px, cold.error_px)


def test_a_track_lends_its_fit_to_the_next_frames_only():
    from understudy.methods.refsd import WARM_FRAMES, VideoMemory
    from understudy.scene import Person

    start = FitStart(np.zeros((13, 3)), np.eye(3))
    fit = BodyFit(np.zeros((4, 3), np.float32), np.zeros((4, 3)), np.zeros((2, 3)),
                  np.zeros((21, 2), np.float32), 1.0, 5.0, start)
    k2 = np.zeros((33, 3), np.float32)
    memory = VideoMemory()
    memory.remember_fit(7, 10, fit, Person(np.array([0, 0, 10, 10], np.float32), 0.9,
                                           keypoints2d=k2))
    assert memory.warm_start(7, 11) is start
    assert memory.warm_start(7, 10 + WARM_FRAMES) is start
    assert memory.warm_start(7, 11 + WARM_FRAMES) is None  # too long ago: start cold
    assert memory.warm_start(8, 11) is None and memory.warm_start(None, 11) is None
