"""MediaPipe landmarks that span too little of a person's box are not their body: MoveNet's
keypoints on the person's crop are asked for as a second opinion (issue 14, item 3).

On vtest frame 300 MediaPipe posed a walker within the top fifth of his box; RefSD refuses
such landmarks and, with nothing else, masked him black. MoveNet on his crop finds his whole
height, which RefSD then follows.

Which crops MediaPipe gets wrong depends on the CPU: XNNPACK picks other kernels on an
AVX-512 machine, where it posed this walker whole. So the test gives the assembler
MediaPipe's real pose of each box with the walker's squashed into his box's top fifth, as it
came on the machine the failure was seen on; MoveNet and the assembler's rule are real."""

from __future__ import annotations

import dataclasses

import numpy as np

from understudy.perception.assemble import PeopleAssembler
from understudy.perception.pose import MIN_LANDMARK_SPAN, MediaPipePose, landmark_span
from understudy.scene import Frame, Person

# The fused detectors' boxes on that frame: MediaPipe's landmarks span a fifth of the first,
# most of the second.
SQUASHED = np.array([178.832, 164.539, 210.078, 230.692], np.float32)
WALKER = np.array([294.998, 161.014, 325.070, 229.352], np.float32)


def test_landmarks_short_of_the_box_get_movenet_keypoints_as_well(street_frame):
    from understudy.perception.movenet import MoveNetOptions, MoveNetPeople

    movenet = MoveNetPeople(MoveNetOptions(input_side=256, threshold=0.1))
    asked = []

    def crop_keypoints(image, box):
        asked.append(box.copy())
        return movenet.keypoints_in(image, box)

    mediapipe = MediaPipePose()

    def pose(image, box):
        est = mediapipe(image, box)
        if est is not None and np.allclose(box, SQUASHED):
            top = float(box[1])
            k = est.keypoints2d.copy()
            k[:, 1] = top + 0.2 * (k[:, 1] - k[:, 1].min())  # within the top fifth
            est = dataclasses.replace(est, keypoints2d=k)
        return est

    assembler = PeopleAssembler(
        lambda image: [Person(box=SQUASHED.copy(), score=0.97),
                       Person(box=WALKER.copy(), score=0.97)],
        pose, None, keypoints=crop_keypoints)
    squashed, walker = assembler(Frame(street_frame(300), "vtest.avi", 300))

    assert landmark_span(squashed.keypoints2d, squashed.box) < MIN_LANDMARK_SPAN
    assert len(asked) == 1  # only for him: the walker's landmarks are his body
    kp = squashed.keypoints_coco17
    assert kp is not None
    ys = kp[kp[:, 2] >= 0.1, 1]
    assert ys.max() - ys.min() >= 0.8 * (squashed.box[3] - squashed.box[1])
    assert landmark_span(walker.keypoints2d, walker.box) >= MIN_LANDMARK_SPAN
    assert walker.keypoints_coco17 is None
