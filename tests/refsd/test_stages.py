"""Stage 1 and compositing on synthetic images: fast, no body model."""

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.diffusion.inpaint import InpaintOptions, Inpainter, inpaint_classical
from understudy.render.composite import composite, estimate_light, match_light
from understudy.render.offscreen import Layer


def striped(h=120, w=160):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = (np.arange(w) * 255 // w)[None, :]
    img[:, :, 1] = 90
    img[::10, :, 2] = 200
    return img


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_classical_inpaint_changes_only_the_hole(method):
    img = striped()
    img[40:80, 60:100] = (255, 0, 255)  # the "person"
    hole = np.zeros(img.shape[:2], bool)
    hole[38:82, 58:102] = True
    out = Inpainter(InpaintOptions(method=method))(img, hole)
    assert np.array_equal(out[~hole], img[~hole])
    # The magenta person is gone: filled from the surrounding gradient.
    assert np.abs(out[hole].astype(int) - [255, 0, 255]).sum(axis=1).min() > 100


def test_large_hole_is_filled_at_reduced_scale():
    img = striped(700, 800)
    hole = np.zeros(img.shape[:2], bool)
    hole[50:650, 100:700] = True  # 360k px, above MAX_CLASSICAL_PIXELS
    img[hole] = 0
    out = inpaint_classical(img, hole)
    assert np.array_equal(out[~hole], img[~hole])
    assert out[hole].mean() > 20


def test_inpaint_options_teach():
    with pytest.raises(UsageError, match="needs inpaint model"):
        InpaintOptions(method="sd")
    with pytest.raises(UsageError, match="allowed: telea, ns, sd"):
        InpaintOptions(method="smear")


def _layer(h, w, color, depth):
    alpha = np.zeros((h, w), np.float32)
    alpha[10:30, 10:30] = 1
    return Layer(np.full((h, w, 3), color, np.uint8), alpha, alpha * depth)


def test_composite_draws_near_people_last_and_stays_inside_allowed():
    bg = np.full((40, 40, 3), 100, np.uint8)
    allowed = np.zeros((40, 40), bool)
    allowed[5:35, 5:35] = True
    near = _layer(40, 40, (255, 0, 0), 2.0)
    far = _layer(40, 40, (0, 0, 255), 5.0)
    crop = (0, 0, 40, 40)
    for order in ([near, far], [far, near]):
        entries = [(layer, crop, allowed, float(layer.depth.max())) for layer in order]
        out = composite(bg, entries)
        assert tuple(out[20, 20]) == (255, 0, 0)  # the nearer person stays in front
        assert np.array_equal(out[~allowed], bg[~allowed])


def test_light_follows_the_surroundings():
    dark = np.full((50, 50, 3), 20, np.uint8)
    bright = np.full((50, 50, 3), 230, np.uint8)
    around = np.ones((50, 50), bool)
    assert estimate_light(bright, around).key_intensity > estimate_light(dark, around).key_intensity
    layer = _layer(40, 40, (128, 128, 128), 1.0)
    assert match_light(layer, dark.reshape(-1, 3)).rgb.mean() < layer.rgb.mean()
    assert match_light(layer, bright.reshape(-1, 3)).rgb.mean() > layer.rgb.mean()
