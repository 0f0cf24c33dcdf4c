"""Perception does only what the method reads (issue 18): the pixel baselines get no
per-person pose, and what replaces it never covers less (fail closed to the box)."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.methods.base import EVERYTHING_READ, PIXELS_READ, MethodSpec
from understudy.methods.registry import METHODS
from understudy.perception.assemble import AssemblyOptions, PeopleAssembler
from understudy.regions import box_mask, person_region_mask
from understudy.scene import Frame, Person

H, W = 240, 320
BOX = np.array([120.0, 40.0, 180.0, 200.0], np.float32)  # a standing walker, 60x160 px


class CountingPose:
    """A pose estimator that finds nobody and counts its calls."""

    model_id = "counting-pose"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image, box):
        self.calls += 1
        return None


def detector(score: float = 0.9):
    return lambda image: [Person(box=BOX.copy(), score=score)]


def body_segmenter(image: np.ndarray) -> np.ndarray:
    """Person probability 1 on an upright ellipse in the middle of any square crop (a body
    seen on its own crop), 0 elsewhere; a whole wide frame gets nothing."""
    h, w = image.shape[:2]
    if h != w:
        return np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[:h, :w]
    inside = ((xx - w / 2) / (0.17 * w)) ** 2 + ((yy - h / 2) / (0.38 * h)) ** 2 <= 1
    return inside.astype(np.float32)


def empty_segmenter(image: np.ndarray) -> np.ndarray:
    return np.zeros(image.shape[:2], np.float32)


def frame() -> Frame:
    return Frame(np.full((H, W, 3), 90, np.uint8), "synthetic.png")


def test_every_method_declares_what_it_reads():
    for name in ("blur", "pixelate", "maskout"):
        assert METHODS[name].reads == PIXELS_READ, name
    # RefSD fits to the landmarks; CAMOUFLaGE draws them for its pose ControlNet.
    for name in ("refsd", "camouflage"):
        assert "pose" in METHODS[name].reads, name
    for spec in METHODS.values():
        assert {"boxes", "masks"} <= spec.reads <= EVERYTHING_READ, spec.name


def test_an_unknown_read_is_refused():
    with pytest.raises(ValueError, match="faces"):
        MethodSpec("x", "x", "m:C", reads=frozenset({"boxes", "faces"}))


def test_pose_free_assembly_never_calls_pose_for_a_sure_person():
    pose = CountingPose()
    people = PeopleAssembler(detector(), pose, body_segmenter,
                             AssemblyOptions(pose_people=False, residual=None))(frame())
    assert pose.calls == 0
    assert len(people) == 1 and people[0].mask is not None and people[0].keypoints2d is None
    # The crop's body is the mask, grown a little, and it stays near the box.
    mask = people[0].mask
    assert mask[int(BOX[1]) + 80, int(BOX[0]) + 30]
    assert box_mask(np.array([100, 20, 200, 220]), (H, W))[mask].all()


def test_full_assembly_calls_pose_for_every_person():
    pose = CountingPose()
    PeopleAssembler(detector(), pose, body_segmenter, AssemblyOptions(residual=None))(frame())
    assert pose.calls >= 1


def test_a_weak_lone_box_still_asks_pose_to_vouch_for_it():
    """Pose is the evidence that keeps a weak lone find (then masked); skipping it would
    drop people the full run covered."""
    pose = CountingPose()
    people = PeopleAssembler(detector(score=0.2), pose, body_segmenter,
                             AssemblyOptions(pose_people=False, residual=None))(frame())
    assert pose.calls == 1 and people == []  # the fake pose found nobody: dropped as before


@pytest.mark.parametrize("segmenter", [empty_segmenter, "thin"])
def test_a_pose_free_person_without_a_trustworthy_mask_falls_back_to_the_box(segmenter):
    if segmenter == "thin":  # a sliver: 1 % of the box, as a walker cut by the frame edge
        def segmenter(image):
            prob = np.zeros(image.shape[:2], np.float32)
            h, w = prob.shape
            if h == w:
                prob[h // 2 - 5:h // 2 + 5, w // 2 - 1:w // 2 + 1] = 1
            return prob
    people = PeopleAssembler(detector(), CountingPose(), segmenter,
                             AssemblyOptions(pose_people=False, residual=None))(frame())
    assert len(people) == 1 and people[0].mask is None
    region = person_region_mask(people[0], (H, W))
    assert region[box_mask(BOX, (H, W))].all()


def test_the_cache_key_says_whether_pose_was_skipped():
    def key(pose_people: bool) -> str:
        return PeopleAssembler(detector(), CountingPose(), body_segmenter,
                               AssemblyOptions(pose_people=pose_people)).cache_key

    assert key(True) != key(False)


def test_the_run_tells_perception_what_the_method_reads():
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer

    def pose_people(full: bool) -> bool:
        options = AnonymizeOptions("maskout", perception=PerceptionOptions(target="people",
                                                                           full=full))
        return Anonymizer(options).perceiver.people.options.pose_people

    assert pose_people(full=False) is False
    assert pose_people(full=True) is True
