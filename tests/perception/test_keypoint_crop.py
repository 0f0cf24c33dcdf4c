"""A weak find with MoveNet's keypoints whom MediaPipe could not pose on their box is posed on
the crop the keypoints span (``PeopleAssembler._pose_on_keypoints``); where both models put a
sure person's skeleton there, the find is that person, found twice, and joins their box.

At vtest frame 160 a walker passing the road sign had a sure box (0.53) and two weak halves
(0.26, 0.23) beside it. MediaPipe found no body on either half, and both were masked black as
uncertain detections over half of his stand-in."""

from __future__ import annotations

import numpy as np

from understudy.perception.assemble import PeopleAssembler
from understudy.perception.pose import PoseEstimate
from understudy.scene import MEDIAPIPE_OF_COCO17, Frame, Person

SIZE = (300, 300)
WALKER = np.array([140, 60, 180, 240], np.float32)  # his sure box
HALF = np.array([120, 50, 160, 150], np.float32)  # a weak box over his upper half, shifted
STRANGER = np.array([20, 60, 60, 240], np.float32)  # a weak find of someone else


def _landmarks(x: float) -> np.ndarray:
    """A body standing at column ``x``, head at y 70, feet at y 235."""
    k = np.zeros((33, 3), np.float32)
    k[:, 0], k[:, 2] = x, 0.9
    heights = {range(0, 11): 70.0, range(11, 13): 100.0, range(13, 23): 130.0,
               range(23, 25): 150.0, range(25, 27): 195.0, range(27, 33): 235.0}
    for ids, y in heights.items():
        k[list(ids), 1] = y
    k[[11, 23, 25, 27], 0] -= 10.0
    k[[12, 24, 26, 28], 0] += 10.0
    return k


def _coco(x: float) -> np.ndarray:
    kp = _landmarks(x)[list(MEDIAPIPE_OF_COCO17)].copy()
    kp[:, 2] = 0.4
    return kp


def _estimate(x: float) -> PoseEstimate:
    mask = np.zeros(SIZE, np.float32)
    mask[65:240, int(x) - 15:int(x) + 15] = 1.0
    return PoseEstimate(_landmarks(x), np.zeros((33, 4), np.float32), (0, 0, SIZE[1], SIZE[0]),
                        mask)


def _pose(image, box):
    """MediaPipe as it was on that frame: the walker on his box and on his keypoints' crop,
    nobody on the loose half box; the stranger only on his keypoints' crop."""
    if np.allclose(box, HALF):
        return None
    centre = (box[0] + box[2]) / 2
    if abs(centre - 160) < 12:
        return _estimate(160)
    if abs(centre - 40) < 12 and not np.allclose(box, STRANGER):
        return _estimate(40)
    return None


def _people():
    found = [Person(box=WALKER.copy(), score=0.9),
             Person(box=HALF.copy(), score=0.26, keypoints_coco17=_coco(160)),
             Person(box=STRANGER.copy(), score=0.25, keypoints_coco17=_coco(40))]
    assembler = PeopleAssembler(lambda image: [Person(p.box.copy(), p.score,
                                                      keypoints_coco17=p.keypoints_coco17)
                                               for p in found], _pose, None)
    return assembler(Frame(np.full(SIZE + (3,), 128, np.uint8), "street.png"))


def test_a_weak_half_of_a_sure_walker_joins_him():
    people = _people()
    assert len(people) == 2, [(p.box, p.score) for p in people]
    walker = next(p for p in people if p.box[0] <= 140 <= p.box[2])
    assert walker.score == 0.9 and not walker.uncertain
    assert walker.box[1] <= 70 and walker.box[3] >= 235  # his keypoints' crop joined his box


def test_a_weak_find_posed_on_its_keypoints_crop_is_sure():
    people = _people()
    stranger = next(p for p in people if p.box[2] <= 100)
    assert stranger.score >= 0.5 and stranger.keypoints2d is not None
