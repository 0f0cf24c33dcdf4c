"""The person region covers what segmenters drop (issue 14): head, hands beyond the wrists,
feet, drawn from the person's seen keypoints; without keypoints it is the mask as before.
Where the mask cannot hold the person (a sliver of an upright box, or an uncertain person whose
crop's segmenter found a neighbour), the box stands for them."""

import numpy as np

from understudy.scene import MEDIAPIPE_OF_COCO17
from understudy.regions import person_region_mask
from understudy.scene import Person

SIZE = (400, 300)
# A standing person facing the camera (x, y): nose, eyes, ears, shoulders, elbows, wrists
# (arms out), hips, knees, ankles. COCO order.
COCO = np.array([[150, 60], [156, 54], [144, 54], [164, 58], [136, 58], [180, 100], [120, 100],
                 [215, 135], [85, 135], [250, 165], [50, 165], [170, 210], [130, 210],
                 [172, 290], [128, 290], [174, 370], [126, 370]], np.float32)


def _person(fmt: str, rows: slice = slice(95, 330)) -> Person:
    mask = np.zeros(SIZE, bool)
    mask[rows, 115:185] = True  # torso and thighs were segmented (a quarter of the box)
    box = np.array([40, 40, 260, 390], np.float32)
    scores = np.ones((17, 1), np.float32)
    if fmt == "coco17":
        return Person(box, 0.9, mask=mask, keypoints_coco17=np.hstack([COCO, scores]))
    k2 = np.zeros((33, 3), np.float32)
    for c, m in enumerate(MEDIAPIPE_OF_COCO17):
        k2[m] = [*COCO[c], 0.99]
    return Person(box, 0.9, mask=mask, keypoints2d=k2, keypoints3d=np.zeros((33, 4), np.float32))


def test_region_adds_head_hands_and_feet_from_keypoints():
    for fmt in ("mediapipe33", "coco17"):
        region = person_region_mask(_person(fmt), SIZE)
        for x, y in COCO[[0, 9, 10, 15, 16]]:  # nose, wrists, ankles
            assert region[int(y), int(x)], (fmt, x, y)
        # A hand reaches past the wrist, away from the elbow; hair above the eyes.
        assert region[165, 262] and region[165, 38], fmt
        assert region[30, 150], fmt
        # But the region stays near the body: not the whole box.
        assert region.sum() < 0.6 * (220 * 350), fmt


# A mask from head to feet: one short of the box's height gets the box too (last test).
WHOLE_HEIGHT = slice(45, 385)


def test_without_keypoints_the_region_is_the_mask():
    person = _person("coco17", WHOLE_HEIGHT)
    person.keypoints_coco17 = None
    region = person_region_mask(person, SIZE)
    assert np.array_equal(region, person.mask)


def test_unseen_keypoints_add_nothing():
    person = _person("coco17", WHOLE_HEIGHT)
    person.keypoints_coco17[:, 2] = 0.1  # below the score a keypoint must reach
    assert np.array_equal(person_region_mask(person, SIZE), person.mask)


def _upright(mask_rows: slice, mask_cols: slice, uncertain: bool = False) -> Person:
    """A 20x94 px person at the left image edge, as on vtest frame 625, with a given mask."""
    mask = np.zeros(SIZE, bool)
    mask[mask_rows, mask_cols] = True
    return Person(np.array([1, 140, 21, 234], np.float32), 0.3 if uncertain else 0.9,
                  mask=mask, uncertain=uncertain)


def test_a_sliver_of_a_mask_gives_way_to_the_box():
    # The segmenter kept 35 of the box's 1880 px: the person is in the box, not the mask.
    person = _upright(slice(150, 157), slice(10, 15))
    region = person_region_mask(person, SIZE)
    assert region[140:234, 1:21].all()
    assert region[150:157, 10:15].all()


def test_a_sure_person_with_a_full_mask_keeps_the_mask():
    person = _upright(slice(142, 232), slice(4, 18))  # 67 % of the box
    assert np.array_equal(person_region_mask(person, SIZE), person.mask)


def test_an_uncertain_upright_person_is_their_whole_box():
    # Filled solid either way; the box also holds them where the mask found a neighbour.
    person = _upright(slice(142, 232), slice(12, 21), uncertain=True)
    region = person_region_mask(person, SIZE)
    assert region[140:234, 1:21].all() and region.sum() == 94 * 20


def test_a_wide_weak_box_keeps_its_sparse_mask():
    # A weak box across a street group (wider than tall) must not become a black bar.
    mask = np.zeros(SIZE, bool)
    mask[60:90, 20:30] = True
    person = Person(np.array([10, 50, 290, 150], np.float32), 0.24, mask=mask, uncertain=True)
    assert np.array_equal(person_region_mask(person, SIZE), mask)


def test_a_region_short_of_an_upright_box_takes_the_box():
    # vtest frame 40: a walker cut by the right edge, his mask on the top 63 % of his box
    # only (the pose crop's body was the bush above him) and no keypoints below it: his legs
    # stayed visible beside the stand-in.
    person = _upright(slice(140, 199), slice(4, 18))
    region = person_region_mask(person, SIZE)
    assert region[140:234, 1:21].all()
    # Keypoints that reach the feet complete a mask of torso and thighs: no box then; without
    # them the same mask gets its box.
    assert not person_region_mask(_person("coco17"), SIZE)[380:390, 40:60].any()
    bare = _person("coco17")
    bare.keypoints_coco17 = None
    assert person_region_mask(bare, SIZE)[40:390, 40:260].all()
