"""An uncertain detection over a sure person (a weak duplicate box, a wide box over a
group) is filled solid only where no sure person's region is: it must not paint black over
the stand-in, and nothing of it is left visible."""

from __future__ import annotations

import numpy as np

from understudy.methods.registry import load_method
from understudy.run.guard import run_guarded
from understudy.scene import EMPTY_REGION, Frame, Person, Scene


def _scene(image, uncertain_box):
    sure = Person(np.array([100, 100, 200, 300], np.float32), 0.9)
    weak = Person(np.array(uncertain_box, np.float32), 0.3, uncertain=True)
    return Scene(Frame(image, "x.png"), people=[sure, weak], target="people")


def test_uncertain_keeps_only_pixels_outside_sure_people(astronaut):
    image = np.ascontiguousarray(astronaut[:400, :400])
    scene = _scene(image, [60, 80, 260, 320])  # wider than the sure person, around them
    sure, weak = scene.regions()
    assert weak.mask.any() and not (weak.mask & sure.mask).any()
    result = run_guarded(load_method("blur"), scene, np.random.default_rng(0))
    out = result.image
    # The sure person is blurred, not filled: their pixels still vary.
    assert out[sure.mask].std(axis=0).max() > 5
    # The weak detection's own pixels are filled solid: one colour.
    assert (out[weak.mask] == out[weak.mask][0]).all()
    assert result.regions[1].outcome.value == "masked"


def test_a_duplicate_inside_a_sure_person_changes_nothing_more(astronaut):
    image = np.ascontiguousarray(astronaut[:400, :400])
    scene = _scene(image, [120, 150, 180, 250])  # wholly inside the sure person's region
    sure, weak = scene.regions()
    assert not weak.mask.any()
    result = run_guarded(load_method("blur"), scene, np.random.default_rng(0))
    assert result.image[sure.mask].std(axis=0).max() > 5  # no black box over the person
    record = result.regions[1]
    assert record.outcome.value in ("skipped", "masked")
    if record.outcome.value == "skipped":
        assert record.reason == EMPTY_REGION
