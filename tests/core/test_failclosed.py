"""Fail closed: a region a method cannot process is filled solid, never left as it was."""

from __future__ import annotations

import numpy as np

from understudy.run.guard import run_guarded
from understudy.scene import Face, Frame, Outcome, RegionResult, Result, Scene


class Raises:
    name = "raises"

    def anonymize(self, scene, rng):
        raise RuntimeError("GPU fell over")


class ReportsFailure:
    name = "reports"

    def anonymize(self, scene, rng):
        image = scene.image.copy()
        records = []
        for i, region in enumerate(scene.regions()):
            if i == 0:
                records.append(RegionResult(region.kind, region.box, region.score, Outcome.FAILED, "no pose"))
            else:
                image[region.mask] = 255 - image[region.mask]
                records.append(RegionResult(region.kind, region.box, region.score, Outcome.REPLACED))
        return Result(image, records)


class Lies:
    """Claims to have replaced every region but returns the image untouched."""

    name = "lies"

    def anonymize(self, scene, rng):
        return Result(scene.image.copy(), [RegionResult(r.kind, r.box, r.score, Outcome.REPLACED)
                                           for r in scene.regions()])


class WrongShape:
    name = "wrong"

    def anonymize(self, scene, rng):
        return Result(scene.image[:10], [])


def two_face_scene(astronaut, box):
    other = box + np.array([200, 200, 200, 200], np.float32)
    return Scene(Frame(astronaut.copy(), "a.jpg"), faces=[Face(box, 0.9), Face(other, 0.8)])


def assert_solid(image, mask):
    assert (image[mask] == 0).all(), "region was not filled solid"


def test_raising_method_masks_every_region(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(Raises(), scene, np.random.default_rng(0))
    for region, record in zip(scene.regions(), result.regions):
        assert_solid(result.image, region.mask)
        assert record.outcome == Outcome.MASKED and "GPU fell over" in record.reason
    everything = np.zeros(astronaut.shape[:2], bool)
    for region in scene.regions():
        everything |= region.mask
    assert np.array_equal(result.image[~everything], astronaut[~everything])


def test_reported_failure_masks_only_that_region(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(ReportsFailure(), scene, np.random.default_rng(0))
    first, second = scene.regions()
    assert_solid(result.image, first.mask)
    assert result.regions[0].outcome == Outcome.MASKED and result.regions[0].reason == "no pose"
    assert result.regions[1].outcome == Outcome.REPLACED
    assert not (result.image[second.mask] == 0).all()


def test_unchanged_region_is_masked(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(Lies(), scene, np.random.default_rng(0))
    for region, record in zip(scene.regions(), result.regions):
        assert_solid(result.image, region.mask)
        assert record.outcome == Outcome.MASKED and "unchanged" in record.reason


def test_uncertain_detection_is_masked_even_when_replaced(astronaut, astronaut_face_box):
    from understudy.methods.registry import load_method
    from understudy.scene import Person

    person = Person(np.array([150, 40, 300, 300], np.float32), 0.3, uncertain=True)
    scene = Scene(Frame(astronaut.copy(), "a.jpg"), people=[person], target="people")
    result = run_guarded(load_method("blur"), scene, np.random.default_rng(0))
    assert_solid(result.image, scene.regions()[0].mask)
    assert result.regions[0].outcome == Outcome.MASKED
    assert result.regions[0].reason == "uncertain detection"


def test_malformed_result_fails_closed(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(WrongShape(), scene, np.random.default_rng(0))
    assert result.image.shape == astronaut.shape
    assert all(r.outcome == Outcome.MASKED for r in result.regions)
