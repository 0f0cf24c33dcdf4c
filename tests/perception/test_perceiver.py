"""The user's choices (exclusions, minimum size, uncertainty) and the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest

import photos
from understudy.errors import UsageError
from understudy.perception.perceiver import PerceptionOptions, Perceiver
from understudy.scene import Face, Frame, Outcome, Person


class FakePeople:
    cache_key = "fake"

    def __init__(self):
        self.calls = 0

    def __call__(self, frame, faces):
        self.calls += 1
        mask = np.zeros(frame.size, bool)
        mask[10:90, 10:40] = True
        return [Person(np.array([10, 10, 40, 90], np.float32), 0.9, mask=mask,
                       faces=list(faces[:1])),
                Person(np.array([60, 50, 70, 70], np.float32), 0.9),
                Person(np.array([80, 10, 95, 90], np.float32), 0.3)]


def faces(image):
    return [Face(np.array([15, 12, 30, 30], np.float32), 0.9)]


def perceiver(**options):
    return Perceiver(PerceptionOptions(target="people", **options), faces, FakePeople())


def test_exclusions_min_size_and_uncertain_are_applied_and_explained():
    frame = Frame(np.zeros((100, 100, 3), np.uint8), "x.png")
    scene = perceiver(min_person_size=30, exclude_regions=((0, 0, 45, 100),),
                      uncertain_threshold=0.5).perceive(frame)
    assert len(scene.people) == 1 and scene.people[0].uncertain  # score 0.3 < 0.5
    reasons = {(r.kind, r.reason) for r in scene.skipped}
    assert all(r.outcome == Outcome.SKIPPED for r in scene.skipped)
    assert reasons == {("person", "inside --exclude-region 0,0,45,100"),
                       ("face", "inside --exclude-region 0,0,45,100"),
                       ("person", "smaller than --min-person-size 30 px (box height 20 px)")}
    assert [r.kind for r in scene.skipped].count("face") == 1  # its face is left alone too
    assert scene.skipped[0].to_json()["outcome"] == "skipped"
    # The regions a method gets are only the kept person; uncertain, so the guard masks it.
    regions = scene.regions()
    assert len(regions) == 1 and regions[0].uncertain


def test_uncertain_people_are_masked_by_the_guard():
    from understudy.run.guard import run_guarded
    from understudy.methods.registry import load_method

    # Texture, so that blurring changes the certain people (a flat patch would stay as it is).
    image = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    scene = perceiver().perceive(Frame(image, "x.png"))
    result = run_guarded(load_method("blur"), scene, np.random.default_rng(0))
    outcomes = [r.outcome for r in result.regions]
    assert outcomes.count(Outcome.MASKED) == 1  # the 0.3 person
    masked = scene.regions()[outcomes.index(Outcome.MASKED)]
    assert (result.image[masked.mask] == 0).all()


@pytest.mark.parametrize("options,message", [
    ({"min_person_size": -1}, "min-person-size"),
    ({"uncertain_threshold": 1.5}, "uncertain-threshold"),
    ({"exclude_regions": ((10, 10, 5, 20),)}, "exclude-region"),
    ({"target": "cats"}, "target"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(UsageError, match=message):
        PerceptionOptions(**options)


def test_cache_returns_the_same_scene_without_detecting(tmp_path):
    people = FakePeople()
    options = PerceptionOptions(target="people", cache_dir=str(tmp_path))
    from understudy.perception.cache import PerceptionCache

    p = Perceiver(options, faces, people, PerceptionCache(tmp_path))
    image = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    first = p.perceive(Frame(image, "a.png"))
    second = p.perceive(Frame(image.copy(), "b.png"))
    assert people.calls == 1
    assert len(second.people) == len(first.people)
    for a, b in zip(first.people, second.people):
        np.testing.assert_array_equal(a.box, b.box)
        assert (a.mask is None) == (b.mask is None)
        if a.mask is not None:
            np.testing.assert_array_equal(a.mask, b.mask)
        assert len(a.faces) == len(b.faces)
    image[0, 0, 0] ^= 1  # one pixel changed: a new key
    p.perceive(Frame(image, "a.png"))
    assert people.calls == 2


def test_cache_round_trips_a_real_scene(perceiver, tmp_path):
    from understudy.perception.cache import PerceptionCache

    (name, image, _), = photos.astronaut()
    cached = Perceiver(perceiver.options, perceiver.faces, perceiver.people,
                       PerceptionCache(tmp_path))
    first = cached.perceive(Frame(image, name))
    second = cached.perceive(Frame(image, name))
    (a,), (b,) = first.people, second.people
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.keypoints3d, b.keypoints3d)
    # MoveNet's keypoints (the pose fallback) and how the person was found survive the cache.
    assert a.keypoints_coco17 is not None
    np.testing.assert_array_equal(a.keypoints_coco17, b.keypoints_coco17)
    assert a.source == b.source == "detector"
    assert b.faces[0] is second.faces[0]  # the person's face is one of the scene's faces


def test_cache_key_takes_a_file_name_that_is_not_utf8():
    from understudy.perception.cache import PerceptionCache
    from understudy.scene import Frame

    image = np.zeros((8, 8, 3), np.uint8)
    name = b"bad\xff.jpg".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    keys = {PerceptionCache.key(Frame(image, name), f"source={name}"),
            PerceptionCache.key(Frame(image, "good.jpg"), "source=good.jpg")}
    assert len(keys) == 2


def test_a_weak_find_inside_a_sure_person_joins_them():
    """vtest: a detector's 0.26 box around a standing man's head and shoulders, inside his
    sure box, was masked black on top of his stand-in. It joins him instead: its pixels are
    in his region, nothing is uncovered, and no black patch is drawn."""
    from understudy.perception.perceiver import merge_weak_duplicates

    size = (100, 100)
    sure_mask = np.zeros(size, bool)
    sure_mask[30:95, 40:60] = True
    weak_mask = np.zeros(size, bool)
    weak_mask[26:50, 38:62] = True  # his head and shoulders, a little wider than his mask
    sure = Person(np.array([38, 26, 62, 95], np.float32), 0.9, mask=sure_mask)
    weak = Person(np.array([38, 26, 62, 50], np.float32), 0.26, mask=weak_mask, uncertain=True)
    other = Person(np.array([70, 30, 90, 95], np.float32), 0.3, uncertain=True)  # beside him
    kept = merge_weak_duplicates([sure, weak, other])
    assert [id(p) for p in kept] == [id(sure), id(other)]
    assert sure.mask[weak_mask].all()
    # A weak person mostly outside a sure one stays their own (masked, fail closed).
    assert [id(p) for p in merge_weak_duplicates([sure, other])] == [id(sure), id(other)]
