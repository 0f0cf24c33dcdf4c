"""Mask-SD: inpaint each dilated person mask; nothing beyond the documented margin moves."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.methods.registry import load_method
from understudy.regions import dilate
from understudy.scene import Frame, Outcome, Person, Scene


def two_people(image):
    h, w = image.shape[:2]
    people = []
    for x0 in (10, 75):
        mask = np.zeros((h, w), bool)
        mask[30:100, x0:x0 + 35] = True
        people.append(Person(np.array([x0, 30, x0 + 35, 100], np.float32), 0.9, mask=mask))
    return Scene(Frame(image, source="x.png"), people=people, target="people", seed=1)


def test_masksd_changes_only_masks_plus_margin(tiny_dir, small_image):
    method = load_method("masksd", model=str(tiny_dir / "inpaint"), steps=3, resolution=64,
                         attributes="random")
    scene = two_people(small_image)
    result = method.anonymize(scene, np.random.default_rng(0))
    assert [r.outcome for r in result.regions] == [Outcome.REPLACED] * 2
    assert result.regions[0].attributes != {}  # the prompt's attributes are on record
    covered = np.zeros(small_image.shape[:2], bool)
    for region in scene.regions():
        covered |= dilate(region.mask, method.options.margin)
        inside = region.mask
        assert np.abs(result.image[inside].astype(int) - small_image[inside]).mean() > 5
    np.testing.assert_array_equal(result.image[~covered], small_image[~covered])
    again = method.anonymize(scene, np.random.default_rng(0))
    np.testing.assert_array_equal(again.image, result.image)


def test_masksd_needs_an_inpainting_model(tiny_dir, small_image):
    scene = two_people(small_image)
    with pytest.raises(UsageError, match="needs SD inpainting weights"):
        load_method("masksd").anonymize(scene, np.random.default_rng(0))
    with pytest.raises(UsageError, match="not an inpainting model"):
        load_method("masksd", model=str(tiny_dir / "sd")).anonymize(scene, np.random.default_rng(0))
    with pytest.raises(UsageError, match="dilation"):
        load_method("masksd", dilation=-1)
