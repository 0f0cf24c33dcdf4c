"""A face seed is a person found twice when MoveNet's keypoints on its crop are their skeleton.

At vtest frame 421 a walker talks on the phone, his hand at his head. Every detector boxes him
from the shoulders down; his face, above the box, is claimed by nobody and seeds a person. On
the seed's crop MediaPipe finds no body whose head is that face, MoveNet does: his. Without a
twin test on those keypoints the seed stayed a head-sized weak person, masked black over his
stand-in's head for 7 frames of the clip (vtest 418-424)."""

from __future__ import annotations

import numpy as np

from understudy.scene import MEDIAPIPE_OF_COCO17, Frame, Person

HEAD = (314, 196)  # the walker's head, above his box, vtest frame 421


def test_the_walker_on_the_phone_keeps_his_head(perceiver, street_frame):
    people = perceiver.perceive(Frame(street_frame(421), "vtest.avi", 421)).people
    x, y = HEAD
    at_head = [p for p in people if p.box[0] <= x <= p.box[2] and p.box[1] <= y <= p.box[3]]
    assert not [p for p in at_head if p.source == "face"], [(p.box, p.score) for p in at_head]
    walker = [p for p in people if p.source == "detector" and p.box[0] <= x <= p.box[2]
              and p.box[1] < 250 < p.box[3]]
    assert len(walker) == 1, [(p.box, p.score, p.source) for p in people]
    assert any(f.box[0] <= x <= f.box[2] and f.box[1] <= y <= f.box[3]
               for f in walker[0].faces)  # his face goes with him, into his region


def test_a_seed_with_keypoints_only_is_the_person_whose_skeleton_they_are():
    from understudy.perception.assemble import _Candidate, _twin
    from understudy.perception.pose import PoseEstimate

    rng = np.random.default_rng(3)
    box = np.array([100, 50, 140, 150], np.float32)
    landmarks = np.zeros((33, 3), np.float32)
    landmarks[:, 0] = rng.uniform(100, 140, 33)
    landmarks[:, 1] = rng.uniform(50, 150, 33)
    landmarks[:, 2] = 0.9
    est = PoseEstimate(landmarks, np.zeros((33, 4), np.float32), (0, 0, 1, 1),
                       np.zeros((1, 1), np.float32))
    walker = _Candidate(Person(box=box, score=0.9), pose=est)
    coco = landmarks[list(MEDIAPIPE_OF_COCO17)].copy()
    coco[:, 2] = 0.4

    def seed(keypoints):
        head = np.array([112, 40, 128, 58], np.float32)
        return _Candidate(Person(box=head, score=0.15, keypoints_coco17=keypoints, source="face"),
                          seeded=True)

    assert _twin(seed(coco), [walker], 0.5) is walker
    beside = coco.copy()
    beside[:, 0] += 40  # the neighbour's skeleton
    assert _twin(seed(beside), [walker], 0.5) is None
    assert _twin(seed(None), [walker], 0.5) is None
