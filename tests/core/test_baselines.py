"""What the baselines promise beyond the contract."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.methods.registry import load_method
from understudy.scene import Face, Frame, Scene


def face_scene(image, box):
    return Scene(Frame(image.copy(), "a.jpg"), faces=[Face(box, 0.9)], target="faces")


def test_strong_blur_hides_more_than_weak(astronaut, astronaut_face_box):
    scene = face_scene(astronaut, astronaut_face_box)
    # The interior only: the hard edge of the region is an edge in every method's output.
    import cv2

    mask = cv2.erode(scene.regions()[0].mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    weak = load_method("blur:weak").anonymize(scene, np.random.default_rng(0)).image
    strong = load_method("blur", strength="strong").anonymize(scene, np.random.default_rng(0)).image

    def detail(img):  # high-frequency energy left inside the face
        lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
        return float(np.abs(lap[mask]).mean())

    assert detail(strong) < detail(weak) < detail(astronaut)


def test_pixelate_makes_flat_blocks(astronaut, astronaut_face_box):
    scene = face_scene(astronaut, astronaut_face_box)
    out = load_method("pixelate", blocks=4).anonymize(scene, np.random.default_rng(0)).image
    mask = scene.regions()[0].mask
    colours = {tuple(c) for c in out[mask]}
    assert len(colours) <= 4 * 4, f"{len(colours)} colours for a 4-block grid"


def test_maskout_colour(astronaut, astronaut_face_box):
    scene = face_scene(astronaut, astronaut_face_box)
    out = load_method("maskout", color="#ff8000").anonymize(scene, np.random.default_rng(0)).image
    assert (out[scene.regions()[0].mask] == [255, 128, 0]).all()


@pytest.mark.parametrize("name, options, fragment", [
    ("blur", {"strength": "medium"}, "allowed: weak, strong"),
    ("blur", {"radius": 3}, "has no option radius"),
    ("pixelate", {"blocks": 1}, "2..256"),
    ("maskout", {"color": "purple"}, "#rrggbb"),
    ("nosuch", {}, "unknown method"),
    ("blur:extreme", {}, "no preset"),
])
def test_bad_options_teach(name, options, fragment):
    with pytest.raises(UsageError, match=fragment):
        load_method(name, **options)
