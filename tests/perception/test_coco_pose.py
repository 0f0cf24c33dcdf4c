"""Annotated (COCO) people get MediaPipe pose, so avatar methods can replace them.

The astronaut's annotation below is what an annotator would give: a box, a polygon around her
and the COCO-17 keypoints she shows (hips and below are out of the frame, so unlabelled).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from understudy.cli import main
from understudy.io.coco import CocoAnnotations
from understudy.perception.coco import CocoPeople, pose_matches
from understudy.scene import Face, Frame

POLYGON = [255, 19, 230, 15, 205, 21, 158, 55, 153, 64, 153, 90, 161, 110, 182, 132, 181, 148,
           140, 160, 113, 205, 96, 214, 81, 231, 69, 234, 46, 276, 35, 316, 24, 330, 21, 377,
           12, 401, 24, 439, 11, 486, 25, 511, 304, 511, 296, 473, 307, 449, 320, 389, 331,
           370, 347, 363, 362, 363, 365, 325, 361, 303, 348, 283, 341, 261, 301, 227, 278, 192,
           257, 178, 258, 162, 267, 143, 298, 104, 300, 77, 292, 46]
BOX = [11, 15, 355, 497]
KEYPOINTS = [225, 135, 2, 247, 114, 2, 207, 110, 2, 268, 124, 2, 188, 115, 2,  # head
             304, 258, 2, 112, 240, 2, 322, 388, 1, 70, 412, 2, 330, 490, 1, 140, 500, 1,
             243, 497, 1] + [0, 0, 0] * 5  # right hip, knees, ankles: out of the frame


def astronaut_coco(**person) -> dict:
    ann = {"id": 4242, "image_id": 3, "category_id": 1, "bbox": BOX, "iscrowd": 0,
           "area": 120000, "segmentation": [POLYGON], "keypoints": KEYPOINTS,
           "num_keypoints": 12}
    ann.update(person)
    return {"info": {"description": "astronaut, annotated by hand"},
            "categories": [{"id": 1, "name": "person", "keypoints": ["nose"]}],
            "images": [{"id": 3, "file_name": "astronaut.png", "width": 512, "height": 512}],
            "annotations": [ann]}


@pytest.fixture(scope="module")
def pose():
    from understudy.perception.pose import MediaPipePose

    estimator = MediaPipePose()
    yield estimator
    estimator.close()


def people_of(tmp_path, astronaut, pose, data, faces=()):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    stage = CocoPeople(CocoAnnotations.load(str(path)), pose=pose)
    return stage(Frame(astronaut, "astronaut.png"), list(faces))


def test_annotated_person_gets_mediapipe_pose_and_keeps_the_annotation(
        tmp_path, astronaut, pose, astronaut_face_box):
    face = Face(astronaut_face_box, 0.9)
    (person,) = people_of(tmp_path, astronaut, pose, astronaut_coco(), [face])
    assert person.keypoint_format == "mediapipe33"
    assert person.keypoints2d.shape == (33, 3) and person.keypoints3d.shape == (33, 4)
    # Metric 3D: shoulder to shoulder is a human width, not pixels.
    assert 0.2 < np.linalg.norm(person.keypoints3d[11, :3] - person.keypoints3d[12, :3]) < 0.6
    # The pose is hers: it lands on the annotated nose and shoulders.
    nose = np.array(KEYPOINTS[:2], np.float32)
    assert np.linalg.norm(person.keypoints2d[0, :2] - nose) < 15
    # The annotation stays the source of truth for box, mask and id.
    np.testing.assert_allclose(person.box, [11, 15, 366, 512])
    from pycocotools import mask as mask_utils

    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([POLYGON], 512, 512)))
    assert np.array_equal(person.mask, expected.astype(bool))
    assert person.annotation_id == 4242 and not person.uncertain
    assert person.faces == [face]  # assigned by her head landmarks


def test_a_pose_that_is_not_the_annotated_persons_is_refused(tmp_path, astronaut, pose):
    # Keypoints of someone 150 px to the left: the pose MediaPipe finds in the box is not theirs.
    moved = [v - 150 if i % 3 == 0 and KEYPOINTS[i + 2] else v for i, v in enumerate(KEYPOINTS)]
    (person,) = people_of(tmp_path, astronaut, pose, astronaut_coco(keypoints=moved))
    assert person.keypoint_format == "coco17" and person.keypoints3d is None
    np.testing.assert_array_equal(person.keypoints2d[:, :2],
                                  np.asarray(moved, np.float32).reshape(17, 3)[:, :2])


def test_without_keypoints_the_mask_decides(tmp_path, astronaut, pose):
    (kept,) = people_of(tmp_path, astronaut, pose, astronaut_coco(keypoints=None))
    assert kept.keypoint_format == "mediapipe33" and kept.keypoints3d is not None
    # The whole image as box, but the mask is a patch of background: the pose found in the
    # box (the astronaut's) is not the annotated person's.
    corner = [400, 20, 500, 20, 500, 200, 400, 200]
    (refused,) = people_of(tmp_path, astronaut, pose, astronaut_coco(
        keypoints=None, bbox=[0, 0, 512, 512], segmentation=[corner]))
    assert refused.keypoints2d is None and refused.keypoints3d is None
    assert refused.mask[20:200, 400:500].all()


def test_crowds_get_no_pose(tmp_path, astronaut):
    calls = []
    stage_pose = lambda image, box: calls.append(box)  # noqa: E731
    people = people_of(tmp_path, astronaut, stage_pose, astronaut_coco(iscrowd=1))
    assert people[0].uncertain and calls == []


def test_pose_matches_needs_the_landmarks_near_the_labelled_keypoints():
    from understudy.perception.pose import PoseEstimate
    from understudy.scene import Person

    k2 = np.zeros((33, 3), np.float32)
    k2[:, :2], k2[:, 2] = (100, 100), 1.0
    est = PoseEstimate(k2, np.zeros((33, 4), np.float32), (0, 0, 200, 200),
                       np.zeros((200, 200), np.float32))
    coco = np.zeros((17, 3), np.float32)
    coco[:4] = (105, 98, 1.0)
    person = Person(np.array([0, 0, 200, 200], np.float32), 1.0, keypoints2d=coco,
                    keypoint_format="coco17")
    assert pose_matches(est, person)
    coco[:4, 0] = 160  # 60 px off in a 283 px diagonal box
    assert not pose_matches(est, person)


def test_cache_key_names_the_pose_and_the_file_content(tmp_path, pose):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(astronaut_coco()))
    with_pose = CocoPeople(CocoAnnotations.load(str(path)), pose=pose).cache_key
    without = CocoPeople(CocoAnnotations.load(str(path))).cache_key
    assert with_pose != without and pose.model_id in with_pose
    path.write_text(json.dumps(astronaut_coco(bbox=[12, 15, 354, 497])))  # an edit
    assert CocoPeople(CocoAnnotations.load(str(path)), pose=pose).cache_key != with_pose


def test_refsd_replaces_annotated_people_and_fails_closed_without_pose(tmp_path, astronaut):
    """End to end: the astronaut is replaced, a 'person' on a blank image (no pose to find)
    is masked by RefSD and still replaced by maskout; the annotations travel unchanged."""
    (tmp_path / "in").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "in" / "astronaut.png")
    blank = np.full((256, 256, 3), 128, np.uint8)
    Image.fromarray(blank).save(tmp_path / "in" / "blank.png")
    data = astronaut_coco()
    data["images"].append({"id": 8, "file_name": "blank.png", "width": 256, "height": 256})
    data["annotations"].append({"id": 9001, "image_id": 8, "category_id": 1,
                                "bbox": [60, 20, 120, 220], "iscrowd": 0,
                                "segmentation": [[60, 20, 180, 20, 180, 240, 60, 240]]})
    (tmp_path / "coco.json").write_text(json.dumps(data))

    def run(method, out):
        code = main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / out), "--quiet",
                     "--target", "people", "--method", method, "--seed", "3",
                     "--cache-dir", str(tmp_path / "cache"),
                     "--annotations", str(tmp_path / "coco.json")])
        assert code == 0
        rows = [json.loads(line) for line in (tmp_path / out / "audit.jsonl").read_text()
                .splitlines()]
        return {row["source"].split("/")[-1]: [r for r in row["regions"] if r["kind"] == "person"]
                for row in rows}

    audit = run("refsd", "out")
    (her,) = audit["astronaut.png"]
    assert her["outcome"] == "replaced", her
    (nobody,) = audit["blank.png"]
    assert nobody["outcome"] == "masked" and "MediaPipe" in json.dumps(nobody), nobody
    out = np.asarray(Image.open(tmp_path / "out" / "astronaut.png").convert("RGB"))
    inside = np.abs(out.astype(int) - astronaut.astype(int)).sum(-1) > 30
    assert inside[100:400, 100:300].mean() > 0.5  # her body was repainted
    carried = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert carried == data  # every field of the input, ids and keypoints unchanged

    audit = run("maskout", "masked")  # perception comes from the cache this time
    assert [r["outcome"] for r in audit["blank.png"]] == ["replaced"]
    assert [r["outcome"] for r in audit["astronaut.png"]] == ["replaced"]
