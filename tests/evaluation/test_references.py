"""The identity-free references of body re-ID (evaluation/references.py): outputs that hold
nobody, whose R@1 is what an attacker reads from the place and the pose alone."""

import numpy as np

from understudy.evaluation.aggregate import above_floor, body_floors
from understudy.evaluation.colour import colour_histogram
from understudy.evaluation.references import CLOTHING, GREY, REFERENCES, reference_images

SIZE = (200, 160)
BOX = [50.0, 30.0, 110.0, 190.0]


def _photo() -> tuple[np.ndarray, np.ndarray]:
    """A red-shirted, blue-trousered 'person' on a noisy green lawn; their box-sized mask."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((60, 140, 60), 12, SIZE + (3,)), 0, 255).astype(np.uint8)
    mask = np.zeros((160, 60), bool)
    mask[5:150, 12:48] = True
    person = image[30:190, 50:110]
    person[:80][mask[:80]] = (200, 30, 30)
    person[80:][mask[80:]] = (30, 40, 160)
    return image, mask


def test_references_keep_the_scene_and_remove_the_person():
    image, mask = _photo()
    refs = reference_images(image, [BOX], [mask], "digest")
    assert set(refs) == set(REFERENCES)
    full = np.zeros(SIZE, bool)
    full[30:190, 50:110] = mask
    empty = refs["surroundings"]
    # No red or blue of the person survives: the fill comes from the lawn around them.
    inside = empty[full].astype(int)
    assert (inside[:, 0] < 120).all() and (inside[:, 2] < 120).all()
    assert np.abs(inside.mean(axis=0) - (60, 140, 60)).max() < 20
    # Far from the person, the scene is the original's.
    assert np.array_equal(empty[:, :20], image[:, :20])
    assert (refs["grey figure"][full] == GREY).all()
    colours = {tuple(c) for c in refs["colour figure"][full]}
    assert len(colours) == 2 and colours <= set(CLOTHING)
    # A colour attacker finds the original in the surroundings far less than in the original.
    h = colour_histogram(image, BOX)
    assert colour_histogram(empty, BOX) @ h < 0.9 * (h @ h)


def test_colour_figure_is_seeded_by_image_person_and_seed():
    image, mask = _photo()
    a = reference_images(image, [BOX], [mask], "digest", seed=0)["colour figure"]
    b = reference_images(image, [BOX], [mask], "digest", seed=0)["colour figure"]
    assert np.array_equal(a, b)
    others = [reference_images(image, [BOX], [mask], f"other{i}")["colour figure"]
              for i in range(6)]
    assert any(not np.array_equal(a, o) for o in others)


def test_floor_is_the_highest_reference_and_methods_are_measured_above_it():
    refs = {"surroundings": {"colour": {"R@1": 48.7, "gallery_R@1": 40.0},
                             "appearance": {"R@1": 28.2}},
            "grey figure": {"colour": {"R@1": 23.1, "gallery_R@1": 45.0},
                            "appearance": {"R@1": 41.0}}}
    floors = body_floors(refs)
    assert floors["colour"] == {"R@1": 48.7, "R@1_reference": "surroundings",
                                "gallery_R@1": 45.0, "gallery_R@1_reference": "grey figure"}
    assert floors["appearance"]["R@1"] == 41.0
    row = above_floor({"R@1": 43.6, "gallery_R@1": None}, floors["appearance"])
    assert row == {"floor_R@1": 41.0, "above_floor_R@1": 43.6 - 41.0}
    assert above_floor({"R@1": 10.0}, None) == {}
