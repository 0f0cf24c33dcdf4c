"""The clean background plate (render/plate.py): on a still camera the hole behind a walker
is filled with the background seen in earlier frames, not with a per-frame guess."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.diffusion.inpaint import inpaint_classical
from understudy.regions import dilate
from understudy.render.plate import BackgroundPlate, PlateOptions

H, W = 120, 200


def _background(seed: int = 0) -> np.ndarray:
    """A textured still scene: Telea cannot guess it from the hole's border."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 255, (H // 4, W // 4, 3), np.uint8)
    return cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)


def _walker(frame: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    x = 10 + 8 * frame
    mask[30:100, x:x + 24] = True
    return mask


def _frame(background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    image = background.copy()
    image[mask] = (230, 20, 20)  # the walker's red coat
    return image


def _run(plate: BackgroundPlate, background: np.ndarray, frames: int):
    """Feed ``frames`` frames of the walker; return the last frame's fill and its hole."""
    for t in range(frames):
        hole = dilate(_walker(t), 2)
        covered = dilate(hole, 4)
        image = _frame(background, _walker(t))
        plate.observe(image, covered, t)
        filled, known = plate.fill(image, hole, covered, t)
    return image, filled, known, hole


def test_the_hole_behind_a_walker_is_the_background_seen_before():
    background = _background()
    plate = BackgroundPlate()
    image, filled, known, hole = _run(plate, background, 12)
    # Where the walker stands now, they stood only lately: the plate saw the rest.
    assert known.mean() > 0 and known[hole].mean() > 0.6
    error = np.abs(filled[known].astype(int) - background[known]).mean()
    assert error < 2.0
    telea = inpaint_classical(image, hole)
    assert np.abs(telea[known].astype(int) - background[known]).mean() > 8 * max(error, 1.0)
    # Nothing outside the hole changes, and nothing of the coat comes back.
    assert np.array_equal(filled[~hole], image[~hole])
    assert not np.any(np.all(filled[hole] == (230, 20, 20), axis=1))


def test_pixels_never_seen_are_left_for_the_inpainter():
    background = _background()
    _, _, known, _ = _run(BackgroundPlate(), background, 1)  # first frame: nothing settled
    assert not known.any()
    # Someone who stands still never uncovers the background behind them.
    plate = BackgroundPlate()
    hole = dilate(_walker(3), 2)
    covered = dilate(hole, 4)
    image = _frame(background, _walker(3))
    for t in range(10):
        plate.observe(image, covered, t)
    filled, known = plate.fill(image, hole, covered, 10)
    assert not known.any() and np.array_equal(filled, image)


def test_a_missed_passer_by_does_not_settle_into_the_plate():
    """Someone the detectors missed (not in ``covered``) moves: their pixels never agree
    with themselves for ``settle`` frames, so they are not pasted into a hole."""
    background = _background()
    plate = BackgroundPlate(PlateOptions(settle=3))
    hole = np.zeros((H, W), bool)
    hole[40:90, 150:180] = True
    covered = dilate(hole, 4)
    for t in range(10):
        image = background.copy()
        image[40:90, 130 + 4 * t:146 + 4 * t] = (0, 255, 0)  # a green passer-by, missed
        plate.observe(image, covered, t)
        filled, known = plate.fill(image, hole, covered, t)
        assert not np.any(np.all(filled[known] == (0, 255, 0), axis=1))


def test_a_cut_empties_the_plate():
    plate = BackgroundPlate()
    _run(plate, _background(0), 8)
    other = _background(1)
    hole = dilate(_walker(8), 2)
    covered = dilate(hole, 4)
    image = _frame(other, _walker(8))
    plate.observe(image, covered, 8)
    filled, known = plate.fill(image, hole, covered, 8)
    assert plate.resets == 1
    assert not known.any()  # the old scene's background is never pasted into the new one


def test_the_fill_follows_the_light():
    background = _background()
    plate = BackgroundPlate()
    _run(plate, background, 10)
    darker = (background.astype(np.float32) * 0.85).astype(np.uint8)
    hole = dilate(_walker(10), 2)
    covered = dilate(hole, 4)
    image = _frame(darker, _walker(10))
    filled, known = plate.fill(image, hole, covered, 10)
    assert known.any()
    assert np.abs(filled[known].astype(int) - darker[known]).mean() < 4.0


def test_plate_options_teach():
    from understudy.errors import UsageError

    with pytest.raises(UsageError, match="settle"):
        PlateOptions(settle=0)
    with pytest.raises(UsageError, match="cut_share"):
        PlateOptions(cut_share=0)
