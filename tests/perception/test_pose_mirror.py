"""A person MediaPipe misses in the crop is found in the mirrored crop, with the subject's
left and right put back where they belong."""

from __future__ import annotations

import numpy as np
from PIL import Image

from understudy.perception.perceiver import PerceptionOptions, build_perceiver
from understudy.samples import SAMPLES_DIR
from understudy.scene import Frame


def test_cameraman_gets_a_pose_facing_the_right_way():
    image = np.asarray(Image.open(SAMPLES_DIR / "cameraman.jpg").convert("RGB"))
    scene = build_perceiver(PerceptionOptions(target="people")).perceive(Frame(image, "cameraman.jpg"))
    assert len(scene.people) == 1
    person = scene.people[0]
    assert person.keypoints2d is not None and person.keypoints3d is not None
    k = person.keypoints2d
    x0, y0, x1, y1 = person.box
    visible = k[:, 2] > 0.5
    assert visible.sum() >= 10
    inside = (k[visible, 0] >= x0 - 20) & (k[visible, 0] <= x1 + 20) & (k[visible, 1] >= y0 - 20)
    assert inside.all(), "landmarks must lie on the person, not mirrored off them"
    # He looks to the image right, through the camera: the nose is right of the shoulders.
    assert k[0, 0] > k[[11, 12], 0].mean()
