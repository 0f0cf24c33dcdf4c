"""The per-person attribute/keypoint encoding and the CelebA label files."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.diffusion.adapters import celeba
from understudy.diffusion.adapters.conditions import face_condition
from understudy.diffusion.adapters.encoding import (CHANNELS, KEYPOINT_CHANNEL, OCCUPANCY_CHANNEL,
                                       PersonCondition, crop_condition, encode_people)

SIZE = (120, 200)


def person(box, attrs, size=SIZE):
    box = np.array(box, np.float32)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    lms = np.array([[x0 + .3 * w, y0 + .4 * h], [x0 + .7 * w, y0 + .4 * h], [x0 + .5 * w, y0 + .6 * h],
                    [x0 + .35 * w, y0 + .8 * h], [x0 + .65 * w, y0 + .8 * h]], np.float32)
    return face_condition(box, lms, attrs, size)


def test_two_people_attributes_land_in_their_own_regions_only():
    a = celeba.vector({"Male": 1, "Eyeglasses": 1, "Young": -1})
    b = celeba.vector({"Male": -1, "Smiling": 1, "Wearing_Hat": 1})
    pa, pb = person((20, 30, 70, 90), a), person((120, 30, 170, 90), b)
    enc = encode_people(SIZE, [pa, pb])
    assert enc.shape == (CHANNELS, *SIZE) and enc.dtype == np.float32
    attrs = enc[:40]
    # Inside each region: exactly that person's vector.
    assert np.all(attrs[:, pa.region] == a[:, None])
    assert np.all(attrs[:, pb.region] == b[:, None])
    # Outside every region: nothing at all, in any channel.
    outside = ~(pa.region | pb.region)
    assert np.all(enc[:, outside] == 0)
    # A's glasses never appear where B is, B's hat never where A is.
    glasses, hat = celeba.INDEX["eyeglasses"], celeba.INDEX["wearing_hat"]
    assert enc[glasses][pb.region].max() == 0 and enc[hat][pa.region].max() == 0
    assert np.all(enc[OCCUPANCY_CHANNEL][pa.region | pb.region] == 1)


def test_keypoints_are_blobs_at_the_landmarks_clipped_to_the_owner():
    a = celeba.vector({"Male": 1})
    pa, pb = person((20, 30, 70, 90), a), person((120, 30, 170, 90), -a)
    enc = encode_people(SIZE, [pa, pb])
    for k in range(5):
        channel = enc[KEYPOINT_CHANNEL + k]
        for p in (pa, pb):
            x, y = p.landmarks[k]
            assert channel[int(y), int(x)] > 0.8  # peak at the landmark
        # Each person's blob for keypoint k stays in their region.
        assert np.all(channel[~(pa.region | pb.region)] == 0)
    # Left eye (k=0) and right eye (k=1) are different channels: the layout says which is which.
    x0, y0 = pa.landmarks[0]
    assert enc[KEYPOINT_CHANNEL + 1][int(y0), int(x0)] < 0.1


def test_overlapping_regions_get_one_owner_per_pixel():
    a, b = celeba.vector({"Male": 1}), celeba.vector({"Male": -1})
    pa, pb = person((40, 30, 100, 100), a), person((80, 30, 140, 100), b)
    both = pa.region & pb.region
    assert both.any()
    enc = encode_people(SIZE, [pa, pb])
    male = enc[celeba.INDEX["male"]]
    # Every overlapping pixel holds one person's value (+1 or -1), never a mix (0 or between).
    assert set(np.unique(male[both])) <= {-1.0, 1.0}
    # The nearer face wins: left half of the overlap to A, right half to B.
    ys, xs = np.nonzero(both)
    assert male[ys[xs < 85], xs[xs < 85]].mean() > 0 and male[ys[xs > 95], xs[xs > 95]].mean() < 0


def test_crop_condition_moves_region_and_landmarks():
    pa = person((20, 30, 70, 90), celeba.vector({"Male": 1}))
    cropped = crop_condition(pa, (10, 20, 90, 100), (160, 160))  # 2x zoom
    assert cropped.region.shape == (160, 160)
    np.testing.assert_allclose(cropped.landmarks, (pa.landmarks - [10, 20]) * 2, atol=1e-4)
    np.testing.assert_allclose(cropped.box, (pa.box - [10, 20, 10, 20]) * 2, atol=1e-4)
    inside = pa.region[20:100, 10:90].sum() * 4
    assert abs(cropped.region.sum() - inside) / inside < 0.05


def test_condition_checks_shapes():
    with pytest.raises(ValueError, match="attributes"):
        PersonCondition(np.zeros(SIZE, bool), np.zeros(3, np.float32), np.zeros(4, np.float32))


def test_celeba_files_and_requests(tmp_path):
    header = " ".join(celeba.CELEBA_ATTRIBUTES)
    values = ["1" if i % 3 == 0 else "-1" for i in range(40)]
    (tmp_path / "attrs.txt").write_text(f"1\n{header}\na.jpg  " + "  ".join(values) + "\n")
    labels = celeba.read_attribute_file(tmp_path / "attrs.txt")
    assert labels["a.jpg"][0] == 1 and labels["a.jpg"][1] == -1
    (tmp_path / "bad.txt").write_text("1\nMale Wings\na.jpg 1 1\n")
    with pytest.raises(UsageError, match="Wings"):
        celeba.read_attribute_file(tmp_path / "bad.txt")
    (tmp_path / "lm.txt").write_text("1\nlefteye_x ...\na.jpg 69 109 106 113 77 142 73 152 108 154\n")
    lms = celeba.read_landmark_file(tmp_path / "lm.txt")["a.jpg"]
    assert lms.shape == (5, 2) and tuple(lms[2]) == (77, 142)
    req = celeba.from_request({"gender": "female", "age": "60s", "emotion": "happy"})
    d = celeba.describe(req)
    assert d == {"Male": -1, "Young": -1, "Gray_Hair": 1, "Smiling": 1}
    # Only what was asked is set: glasses stay unknown.
    assert req[celeba.INDEX["eyeglasses"]] == 0
    merged = celeba.merge(celeba.vector({"Eyeglasses": 1, "Male": 1}), req)
    assert merged[celeba.INDEX["eyeglasses"]] == 1 and merged[celeba.INDEX["male"]] == -1
    with pytest.raises(UsageError, match="allowed"):
        celeba.vector({"Wings": 1})
