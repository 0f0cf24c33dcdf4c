"""The residual-person guard: person pixels nobody covers become a person of their own."""

from __future__ import annotations

import numpy as np
import pytest

import photos
from understudy.perception.residual import ResidualOptions, find_leftovers
from understudy.scene import Frame


def _blob(size, box):
    m = np.zeros(size, bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    return m


def test_leftovers_outside_handled_people_above_the_floor():
    size = (200, 300)
    prob = np.zeros(size, np.float32)
    prob[20:180, 20:80] = 0.9  # a handled person
    prob[30:170, 200:260] = 0.8  # someone nobody handled
    prob[5:9, 150:154] = 0.9  # 16 px of noise: under the floor
    handled = [_blob(size, (20, 20, 80, 180))]
    (left,) = find_leftovers(prob, handled, ResidualOptions(min_area=100, min_area_share=0))
    assert left.owner is None
    x0, y0, x1, y1 = left.box
    assert abs(x0 - 200) <= 3 and abs(x1 - 260) <= 3 and abs(y0 - 30) <= 3


def test_a_small_rim_next_to_a_person_is_theirs():
    size = (200, 300)
    prob = np.zeros(size, np.float32)
    prob[20:180, 20:80] = 0.9
    prob[60:90, 80:110] = 0.9  # a hand sticking out of the mask
    handled = [_blob(size, (20, 20, 80, 180))]
    (left,) = find_leftovers(prob, handled, ResidualOptions(min_area=100, min_area_share=0))
    assert left.owner == 0


def test_nothing_left_when_everyone_is_handled():
    prob = np.zeros((50, 50), np.float32)
    assert find_leftovers(prob, [None]) == []


def test_a_missed_person_is_found_as_residual_with_a_pose(people_perceiver):
    """The box detector misses the right-hand person of a montage (a detector that keeps
    only the leftmost box): the guard finds them from the segmentation, MediaPipe poses
    them, so a method can give them a stand-in; the audit says ``residual``."""
    from understudy.perception.assemble import PeopleAssembler

    stage = people_perceiver[0].people
    image = photos.montage(["biden.jpg", "obama.jpg"])

    def leftmost(img):
        return sorted(stage.detector(img), key=lambda p: -p.score)[:1]

    missing = PeopleAssembler(leftmost, stage.pose, stage.segmenter, stage.options)
    people = missing(Frame(image, "pair"), [])
    sources = sorted(p.source for p in people)
    assert sources == ["detector", "residual"], sources
    (residual,) = [p for p in people if p.source == "residual"]
    assert not residual.uncertain and residual.keypoints2d is not None
    assert residual.mask is not None and residual.mask.sum() > 0.1 * image.shape[0] ** 2
    (found,) = [p for p in people if p.source == "detector"]
    assert not (found.mask & residual.mask).any()


def test_segmentation_alone_is_no_person(people_perceiver):
    """Selfie segmentation calls a coffee cup a person; without a pose or a detection
    there, the guard adds nobody."""
    import skimage

    scene = people_perceiver[0].perceive(Frame(np.ascontiguousarray(skimage.data.coffee()),
                                               "coffee"))
    assert scene.people == []


def test_bad_options_are_named():
    from understudy.errors import UsageError

    with pytest.raises(UsageError, match="residual threshold"):
        ResidualOptions(threshold=1.5)
