"""A person's soft edge (hair, fingers, shoes) is covered: by the pixel baselines, and by the
guard when it fails a person closed."""

from __future__ import annotations

import numpy as np

from understudy.perception.assemble import assign_faces
from understudy.regions import person_margin
from understudy.run.guard import run_guarded
from understudy.scene import Face, Frame, Outcome, Person, RegionResult, Result, Scene

H, W = 200, 160


def scene_with_person() -> Scene:
    image = np.full((H, W, 3), 120, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[40:160, 60:100] = True  # 120 px tall: a margin of 6 px (3 % of 120 is less)
    person = Person(np.array([60, 40, 100, 160], np.float32), 0.9, mask=mask)
    return Scene(Frame(image, "p.png"), people=[person], target="people")


class Failing:
    name = "failing"

    def anonymize(self, scene: Scene, rng) -> Result:
        return Result(scene.image.copy(), [RegionResult(r.kind, r.box, r.score, Outcome.FAILED,
                                                        "cannot") for r in scene.regions()])


def test_the_guard_fills_a_failed_person_with_their_margin():
    scene = scene_with_person()
    region = scene.regions()[0]
    margin = person_margin(region.mask)
    out = run_guarded(Failing(), scene, np.random.default_rng(0))
    assert out.regions[0].outcome == Outcome.MASKED
    ys, xs = np.nonzero((out.image != 120).any(axis=-1))
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    region_box = np.nonzero(region.mask)
    assert box[0] <= region_box[1].min() - margin + 1 and box[2] >= region_box[1].max() + margin
    assert box[1] <= region_box[0].min() - margin + 1 and box[3] >= region_box[0].max() + margin


def test_mask_out_covers_the_margin_and_nothing_further():
    from understudy.methods.registry import load_method

    scene = scene_with_person()
    region = scene.regions()[0]
    margin = person_margin(region.mask)
    out = run_guarded(load_method("maskout"), scene, np.random.default_rng(0)).image
    changed = (out != 120).any(axis=-1)
    rows = np.nonzero(changed.any(axis=1))[0]
    top = np.nonzero(region.mask.any(axis=1))[0].min()
    assert rows.min() == top - margin  # grown by exactly the margin
    assert out[top - margin - 1].max() == 120  # and no further


def test_a_face_high_in_a_box_is_that_persons_even_when_landmarks_miss_the_head():
    """Small people's landmarks are coarse: a face in the top 30 % of the box is theirs, so it
    does not become a second, head-sized person on top of them."""
    k2 = np.zeros((33, 3), np.float32)
    k2[:, 0], k2[:, 1], k2[:, 2] = 80, 150, 0.9  # every landmark far below the face
    person = Person(np.array([60, 40, 100, 160], np.float32), 0.9, keypoints2d=k2)
    face = Face(np.array([74, 44, 86, 58], np.float32), 0.8)  # in the top of the box
    low = Face(np.array([74, 120, 86, 134], np.float32), 0.8)  # at the knees: not theirs
    assert assign_faces([person], [face]) == [] and person.faces == [face]
    other = Person(np.array([60, 40, 100, 160], np.float32), 0.9, keypoints2d=k2.copy())
    assert assign_faces([other], [low]) == [low] and other.faces == []



def test_a_face_taller_than_the_person_is_not_theirs():
    """vtest 699: a patch of grass scored as a face 165 px high beside a walker 115 px tall
    lay within a face diagonal of her head landmarks. Joined to her region it made it mostly
    grass, and the guard filled her black on two frames."""
    k2 = np.zeros((33, 3), np.float32)
    k2[:, 0], k2[:, 1], k2[:, 2] = 125, 300, 0.9  # her head
    walker = Person(np.array([104, 283, 150, 398], np.float32), 0.9, keypoints2d=k2)
    grass = Face(np.array([14, 255, 116, 420], np.float32), 0.12)
    assert assign_faces([walker], [grass]) == [grass] and walker.faces == []
    # A defocused half face at the edge of a person cut by the frame (obama2: 0.76 of their
    # box) is still theirs.
    k3 = np.zeros((33, 3), np.float32)
    k3[:, 0], k3[:, 1], k3[:, 2] = 590, 500, 0.9
    cut = Person(np.array([471, 319, 626, 683], np.float32), 0.9, keypoints2d=k3)
    half = Face(np.array([545, 369, 621, 645], np.float32), 0.15)
    assert assign_faces([cut], [half]) == [] and cut.faces == [half]


def test_a_face_taller_than_its_seeds_twin_is_not_theirs():
    """The same false face, unclaimed, seeded a pose crop in which MediaPipe found the
    walker's body again: as her twin's face it joined her region all the same."""
    from understudy.perception.assemble import PeopleAssembler
    from understudy.perception.pose import PoseEstimate

    image = np.full((450, 300, 3), 120, np.uint8)
    k2 = np.zeros((33, 3), np.float32)
    k2[:, 0], k2[:, 1], k2[:, 2] = 127, 360, 0.9
    k2[:11, 1] = 295  # head
    k2[[11, 12], 1], k2[[23, 24], 1], k2[[11, 23], 0], k2[[12, 24], 0] = 315, 350, 115, 139
    body = PoseEstimate(k2, np.zeros((33, 4), np.float32), (100, 280, 155, 400),
                        np.ones((120, 55), np.float32))
    walker = Person(np.array([104, 283, 150, 398], np.float32), 0.9)
    grass = Face(np.array([14, 255, 116, 420], np.float32), 0.12)
    assembler = PeopleAssembler(lambda img: [walker], pose=lambda img, box: body,
                                segmenter=None, keypoints=lambda img, box: None)
    (person,) = assembler(Frame(image, "f.png"), [grass])
    assert person.faces == []

def test_a_face_with_no_body_found_around_it_stays_a_face():
    """issue 20: it used to become a head-sized uncertain person, a black box blinking beside
    the stand-ins on street video; as a face, people mode still anonymizes it (a face region)."""
    from understudy.perception.assemble import PeopleAssembler

    image = np.full((H, W, 3), 120, np.uint8)
    face = Face(np.array([70, 30, 86, 50], np.float32), 0.3)
    no_body = PeopleAssembler(lambda img: [], pose=lambda img, box: None, segmenter=None,
                              keypoints=lambda img, box: None)
    assert no_body(Frame(image, "f.png"), [face]) == []
    scene = Scene(Frame(image, "f.png"), faces=[face], target="people")
    assert [r.kind for r in scene.regions()] == ["face"]


def test_dilate_on_the_masks_box_equals_the_whole_frame_dilation():
    """``regions.dilate`` works on the mask's padded bounding box only: the same pixels as
    dilating the whole frame, at the border and in the middle, for any growth."""
    import cv2

    from understudy.regions import dilate

    rng = np.random.default_rng(3)
    for trial in range(60):
        h, w = rng.integers(20, 120, 2)
        mask = np.zeros((h, w), bool)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, h), rng.integers(0, w)
            mask[y:y + rng.integers(1, 30), x:x + rng.integers(1, 30)] = True
        # Small radii run through OpenCV's kernel, large ones row by row: both exact.
        pixels = int(rng.integers(0, 15)) if trial % 2 else int(rng.integers(9, 70))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1,) * 2)
        whole = cv2.dilate(mask.astype(np.uint8), kernel) > 0
        np.testing.assert_array_equal(dilate(mask, pixels), whole, err_msg=f"trial {trial}")
