"""Contract every registered method must pass: the region changes, the rest does not, the
shape and dtype are kept, and the same seed gives the same output."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.run.guard import run_guarded
from understudy.methods.registry import SPECS, load_method
from understudy.regions import ellipse_mask
from understudy.scene import Face, Frame, Outcome, Person, Scene

# Methods whose contract needs model weights are covered by their own tests with tiny models.
WEIGHT_FREE = [spec.name for spec in SPECS]


def build(name: str, tmp_factory=None):
    """The method as a user gets it; methods that need weights get tiny random ones."""
    from contract_factories import FACTORIES

    if name in FACTORIES:
        return FACTORIES[name]()
    if next(s for s in SPECS if s.name == name).weights:
        pytest.skip(f"{name} needs weights and has no tiny-model factory in contract_factories.py")
    try:
        return load_method(name)
    except UsageError as exc:
        pytest.skip(f"{name} needs configuration to run ({exc}); covered by its own tests")


@pytest.fixture(scope="module")
def perceived(astronaut):
    """Real perception of the astronaut photo, for both targets (people need keypoints)."""
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    return {target: build_perceiver(PerceptionOptions(target=target)).perceive(
        Frame(astronaut.copy(), "astronaut.jpg")) for target in ("faces", "people")}


def scenes(astronaut, face_box, perceived=None):
    if perceived is not None:
        return {t: Scene(Frame(astronaut.copy(), "a.jpg"), people=s.people, faces=s.faces,
                         target=t) for t, s in perceived.items()}
    face = Face(face_box, 0.9)
    person_mask = ellipse_mask(np.array([120, 30, 400, 512], np.float32), astronaut.shape[:2])
    person = Person(np.array([120, 30, 400, 512], np.float32), 0.9, mask=person_mask, faces=[face])
    return {
        "faces": Scene(Frame(astronaut.copy(), "a.jpg"), faces=[face], target="faces"),
        "people": Scene(Frame(astronaut.copy(), "a.jpg"), people=[person], faces=[face], target="people"),
    }


@pytest.mark.parametrize("name", WEIGHT_FREE)
@pytest.mark.parametrize("target", ["faces", "people"])
def test_region_changes_outside_does_not(name, target, astronaut, astronaut_face_box, perceived):
    spec = next(s for s in SPECS if s.name == name)
    if target not in spec.targets:
        pytest.skip(f"{name} does not work on {target}")
    method = build(name)
    scene = scenes(astronaut, astronaut_face_box, perceived)[target]
    assert len(scene.regions()) == 1, "perception should find the astronaut"
    result = method.anonymize(scene, np.random.default_rng(0))
    assert result.image.shape == astronaut.shape and result.image.dtype == np.uint8
    region = scene.regions()[0]
    inside = np.abs(result.image[region.mask].astype(int) - astronaut[region.mask].astype(int))
    assert inside.mean() > 8, f"{name} barely changed the {target} region"
    # A method may change a documented margin around each region: ``margin_for(mask)`` pixels
    # (RefSD dilates each person to remove their outline and shadow), and around a person
    # ``regions.person_margin`` (hair, fingers and shoes at the mask's soft edge) at least.
    from understudy.regions import dilate, person_margin

    margin = method.margin_for(region.mask) if hasattr(method, "margin_for") else 0
    if region.kind == "person":
        margin = max(margin, person_margin(region.mask))
    outside = ~dilate(region.mask, int(margin))
    assert np.array_equal(result.image[outside], astronaut[outside]), "pixels outside changed"
    assert [r.outcome for r in result.regions] == [Outcome.REPLACED]
    again = method.anonymize(scenes(astronaut, astronaut_face_box, perceived)[target],
                             np.random.default_rng(0))
    assert np.array_equal(again.image, result.image), "same seed, different output"


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_no_regions_no_change(name, astronaut):
    method = build(name)
    spec = next(s for s in SPECS if s.name == name)
    scene = Scene(Frame(astronaut.copy(), "a.jpg"), target=spec.targets[0])
    result = run_guarded(method, scene, np.random.default_rng(0))
    assert np.array_equal(result.image, astronaut)
    assert result.regions == []


def test_input_image_is_not_modified(astronaut, astronaut_face_box):
    for spec in SPECS:
        method = build(spec.name)
        scene = scenes(astronaut, astronaut_face_box)[spec.targets[0]]
        before = scene.image.copy()
        method.anonymize(scene, np.random.default_rng(0))
        assert np.array_equal(scene.image, before), f"{spec.name} wrote into its input"
