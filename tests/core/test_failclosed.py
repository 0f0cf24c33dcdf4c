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


# --- the guard trusts nothing a method says (issue 16, defect 3) ---------------------------

class Claims:
    """Reports ``outcome`` for every region after applying ``change`` to the image."""

    def __init__(self, outcome, change=lambda image, mask: None):
        self.name, self.outcome, self.change = f"claims-{outcome.value}", outcome, change

    def anonymize(self, scene, rng):
        image = scene.image.copy()
        for region in scene.regions():
            self.change(image, region.mask)
        return Result(image, [RegionResult(r.kind, r.box, r.score, self.outcome)
                              for r in scene.regions()])


def shift(levels):
    def change(image, mask):
        image[mask] = np.clip(image[mask].astype(int) + levels, 0, 255).astype(np.uint8)
    return change


def corner_only(image, mask):
    """Blacks out only the top fifth of the region: most of the face stays visible."""
    ys = np.flatnonzero(mask.any(axis=1))
    part = mask.copy()
    part[ys[0] + (ys[-1] - ys[0]) // 5:] = False
    image[part] = 0


def test_skipped_claim_on_a_visible_region_is_masked(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(Claims(Outcome.SKIPPED), scene, np.random.default_rng(0))
    for region, record in zip(scene.regions(), result.regions):
        assert_solid(result.image, region.mask)
        assert record.outcome == Outcome.MASKED and "skipped" in record.reason


def test_masked_claim_without_the_fill_is_filled(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    result = run_guarded(Claims(Outcome.MASKED), scene, np.random.default_rng(0))
    for region, record in zip(scene.regions(), result.regions):
        assert_solid(result.image, region.mask)
        assert record.outcome == Outcome.MASKED and "not filled" in record.reason


def test_a_small_shift_does_not_pass_as_replaced(astronaut, astronaut_face_box):
    scene = two_face_scene(astronaut, astronaut_face_box)
    for change in (shift(2), shift(-2), shift(5), corner_only):
        result = run_guarded(Claims(Outcome.REPLACED, change), scene, np.random.default_rng(0))
        for region, record in zip(scene.regions(), result.regions):
            assert_solid(result.image, region.mask)
            assert record.outcome == Outcome.MASKED and "unchanged" in record.reason


def test_real_methods_pass_the_guard(astronaut, astronaut_face_box):
    from understudy.methods.registry import load_method

    scene = two_face_scene(astronaut, astronaut_face_box)
    for name in ("blur", "blur:weak", "pixelate", "maskout"):
        result = run_guarded(load_method(name), scene, np.random.default_rng(0))
        assert [r.outcome for r in result.regions] == [Outcome.REPLACED] * 2, name


def test_region_outside_the_image_may_be_skipped(astronaut):
    scene = Scene(Frame(astronaut.copy(), "a.jpg"),
                  faces=[Face(np.array([900, 900, 950, 950], np.float32), 0.9)])
    result = run_guarded(Claims(Outcome.SKIPPED), scene, np.random.default_rng(0))
    assert result.regions[0].outcome == Outcome.SKIPPED
    assert np.array_equal(result.image, astronaut)
