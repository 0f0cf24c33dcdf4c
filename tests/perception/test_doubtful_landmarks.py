"""MediaPipe's landmarks that cannot be the person's posture give way to MoveNet's keypoints
(perception/posture.py ``coco17_to_follow``, RefSD's ``pose_entry``; issue 14, item 4).

On small walkers MediaPipe sometimes folds the legs under the hips or turns the body upside
down: RefSD's stand-ins then sat in mid-air (vtest frames 80 and 160) or stood on their heads
(frame 170), while MoveNet had the walkers upright on their feet. Where the two do not put
one head and torso in the box (frame 570) or MoveNet's legs run past the feet behind a sign
(frame 700), MediaPipe's landmarks stay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from understudy.methods.refsd import pose_entry
from understudy.perception.posture import (MAX_FEET_GAP, coco17_to_follow, doubtful_landmarks,
                                        feet_gap, head_above_hips, reach_feet, same_upper_body)
from understudy.regions import box_iou
from understudy.scene import Frame, Person

SIZE = (576, 768)


def _person_at(perceiver, street_frame, index: int, box) -> Person:
    scene = perceiver.perceive(Frame(street_frame(index), "vtest.avi", index))
    best = max(scene.people, key=lambda p: box_iou(p.box, np.array(box, np.float32)))
    assert box_iou(best.box, np.array(box, np.float32)) > 0.7, [p.box for p in scene.people]
    return best


def _mask(box) -> np.ndarray:
    m = np.zeros(SIZE, bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    return m


def test_feet_gap_is_measured_from_the_bottom_of_the_mask():
    mask = _mask((100, 100, 140, 200))  # 100 px tall, feet at y = 200
    assert feet_gap(np.array([[120, 195.0], [125, 190.0]]), mask) == pytest.approx(0.05)
    assert feet_gap(np.array([[120, 150.0]]), mask) == pytest.approx(0.5)
    assert feet_gap(np.array([[120, 218.0]]), mask) == pytest.approx(-0.18)  # below the mask
    assert feet_gap(np.zeros((0, 2)), mask) is None
    assert feet_gap(np.array([[120, 150.0]]), None) is None


def test_coco17_ankles_reach_the_feet_only_from_above():
    mask = _mask((100, 100, 140, 200))
    kp = np.zeros((17, 3), np.float32)
    kp[15:17] = [[115, 195, 0.6], [125, 192, 0.6]]
    assert reach_feet(kp, mask)
    kp[15:17, 1] = 218.0  # legs run on behind something the mask stops at (vtest 700)
    assert not reach_feet(kp, mask)
    kp[15:17, 1] = 200 - 100 * (MAX_FEET_GAP + 0.05)  # folded as well
    assert not reach_feet(kp, mask)
    kp[15:17] = [[115, 195, 0.1], [125, 192, 0.1]]  # unseen ankles vouch for nothing
    assert not reach_feet(kp, mask)


def test_folded_legs_follow_movenet(perceiver, street_frame):
    """vtest 80: a man shaking hands behind the road sign. MediaPipe's ankles end half his
    height above his feet (a stand-in leaning in mid-air); MoveNet's reach them, with the same
    head and torso."""
    man = _person_at(perceiver, street_frame, 80, (392, 180, 434, 263))
    assert feet_gap(man.keypoints2d[27:33], man.mask) > MAX_FEET_GAP
    assert doubtful_landmarks(man.keypoints2d, man.mask, man.box)
    assert reach_feet(man.keypoints_coco17, man.mask)
    assert same_upper_body(man.keypoints2d, man.keypoints_coco17, man.box)
    entry = pose_entry(man, man.mask, {}, SIZE)
    assert entry["source"] == "coco17"
    ankles = entry["keypoints2d"][[27, 28], 1]
    assert ankles.max() > man.keypoints2d[[27, 28], 1].max() + 20  # down to the feet


def test_an_upside_down_body_follows_movenet(perceiver, street_frame):
    """vtest 170: a walker in a white hood seen from behind; MediaPipe put his head below his
    hips (a stand-in on its head), MoveNet stood him upright."""
    walker = _person_at(perceiver, street_frame, 170, (278, 166, 312, 239))
    assert head_above_hips(walker.keypoints2d, walker.box) < 0
    assert coco17_to_follow(walker.keypoints_coco17, walker.keypoints2d, walker.mask,
                            walker.box)
    entry = pose_entry(walker, walker.mask, {}, SIZE)
    assert entry["source"] == "coco17"
    k = entry["keypoints2d"]
    assert k[0, 1] < k[[23, 24], 1].mean() < k[[27, 28], 1].mean()  # head, hips, feet


def test_two_skeletons_of_different_bodies_are_not_followed(perceiver, street_frame):
    """vtest 570: a woman walking half behind a man on the lawn. Before perception posed her
    on her own (``assemble._separate_twins``, tests/perception/test_twins.py), her box held
    his MediaPipe landmarks: they end a quarter of her box above her feet and MoveNet's ankles
    reach them, but the two put the head and torso in different places. They are not one
    body, and which is right the rule cannot tell: MediaPipe's stay. The person is built as
    the assembler gave her then, from the real models' outputs on this frame."""
    woman = _person_at(perceiver, street_frame, 570, (172, 383, 232, 561))
    man = _person_at(perceiver, street_frame, 570, (189, 339, 234, 471))
    front = dataclasses.replace(woman, keypoints2d=man.keypoints2d,
                                keypoints3d=man.keypoints3d)
    assert doubtful_landmarks(front.keypoints2d, front.mask, front.box)
    assert reach_feet(front.keypoints_coco17, front.mask)
    assert not same_upper_body(front.keypoints2d, front.keypoints_coco17, front.box)
    assert not coco17_to_follow(front.keypoints_coco17, front.keypoints2d, front.mask,
                                front.box)
    assert pose_entry(front, front.mask, {}, SIZE)["source"] == "mediapipe"


def test_sound_landmarks_are_kept_and_ask_no_second_opinion(perceiver, street_frame):
    scene = perceiver.perceive(Frame(street_frame(160), "vtest.avi", 160))
    sound = [p for p in scene.people if p.keypoints2d is not None
             and p.keypoint_format == "mediapipe33"
             and not doubtful_landmarks(p.keypoints2d, p.mask, p.box)]
    assert len(sound) >= 5
    for p in sound:
        assert -0.1 <= feet_gap(p.keypoints2d[27:33], p.mask) <= MAX_FEET_GAP
        assert head_above_hips(p.keypoints2d, p.box) >= 0.1
        assert pose_entry(p, p.mask, {}, SIZE)["source"] == "mediapipe"


def test_doubtful_landmarks_ask_movenet_on_the_crop(street_frame):
    """Without MoveNet's whole-frame keypoints, the people stage asks MoveNet on the crop of
    a person whose landmarks are doubtful, and of no one else."""
    from understudy.perception.assemble import PeopleAssembler
    from understudy.perception.movenet import MoveNetOptions, MoveNetPeople
    from understudy.perception.pose import MediaPipePose

    movenet = MoveNetPeople(MoveNetOptions(input_side=256, threshold=0.1))  # the default's
    asked = []

    def crop_keypoints(image, box):
        asked.append(box.copy())
        return movenet.keypoints_in(image, box)

    upside_down = np.array([278.4, 166.8, 312.1, 239.6], np.float32)  # vtest 170
    sound = np.array([512.0, 208.0, 556.0, 296.0], np.float32)
    assembler = PeopleAssembler(
        lambda image: [Person(box=upside_down.copy(), score=0.99),
                       Person(box=sound.copy(), score=0.99)],
        MediaPipePose(), None, keypoints=crop_keypoints)
    hooded, walker = assembler(Frame(street_frame(170), "vtest.avi", 170))

    assert len(asked) == 1 and box_iou(asked[0], upside_down) > 0.9
    assert head_above_hips(hooded.keypoints2d, hooded.box) < 0
    assert coco17_to_follow(hooded.keypoints_coco17, hooded.keypoints2d, hooded.mask,
                            hooded.box)
    assert walker.keypoints_coco17 is None
