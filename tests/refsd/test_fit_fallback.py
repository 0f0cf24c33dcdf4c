"""One person whose landmarks cannot place a camera fails alone, not the whole frame."""

from __future__ import annotations

import numpy as np

from understudy.body import fit


def landmarks(shift: float) -> dict:
    k2 = np.zeros((33, 3), np.float32)
    k2[:, 0], k2[:, 1], k2[:, 2] = 100 + shift + np.linspace(0, 40, 33), np.linspace(50, 250, 33), 1
    k3 = np.zeros((33, 4), np.float32)
    k3[:, 0], k3[:, 1], k3[:, 3] = np.linspace(-0.2, 0.2, 33), np.linspace(-0.8, 0.9, 33), 1
    return {"keypoints2d": k2, "keypoints3d": k3, "phenotype": {}, "scale": 200.0}


def test_a_batch_error_is_narrowed_to_the_person_who_caused_it(monkeypatch):
    """Seen on a street clip: one walker's landmarks passed the check but put the camera
    behind him in the batch fit; the ValueError masked all nine people of the frame."""
    bad = landmarks(7.0)

    def batch(body, people, size, options, *steps_and_rate):
        if any(p is bad for p in people):
            raise ValueError("camera fit put the person at z=0.05 m")
        return [f"fit of {p['keypoints2d'][0, 0]:.0f}" for p in people]

    monkeypatch.setattr(fit, "_fit_batch", batch)
    monkeypatch.setattr(fit, "check_landmarks", lambda person, size, focal=None: "")
    people = [landmarks(0.0), bad, landmarks(20.0)]
    out = fit.fit_bodies(None, people, (480, 640), fit.FitOptions())
    assert out[0] == "fit of 100" and out[2] == "fit of 120"
    assert out[1] == "landmarks cannot place a camera: camera fit put the person at z=0.05 m"

