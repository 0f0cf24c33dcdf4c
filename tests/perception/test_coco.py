"""COCO annotations in (instead of detection) and out (carried next to the outputs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import InputError, UsageError
from understudy.io.coco import CocoAnnotations, carry_annotations
from understudy.perception.coco import CocoPeople
from understudy.scene import Frame

KEYPOINTS = [10, 12, 2, 0, 0, 0] + [20, 30, 1] * 15  # 17 triples: v 2, 0, then 1s


def coco_file(tmp_path, **overrides):
    from pycocotools import mask as mask_utils

    rle_mask = np.zeros((40, 60), np.uint8, order="F")
    rle_mask[5:15, 30:50] = 1
    rle = mask_utils.encode(rle_mask)
    rle["counts"] = rle["counts"].decode()
    data = {
        "info": {"description": "test"},
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
        "images": [{"id": 7, "file_name": "a/one.png", "width": 60, "height": 40},
                   {"id": 9, "file_name": "two.png", "width": 60, "height": 40}],
        "annotations": [
            {"id": 101, "image_id": 7, "category_id": 1, "bbox": [2, 3, 20, 30], "iscrowd": 0,
             "segmentation": [[2, 3, 22, 3, 22, 33, 2, 33]], "keypoints": KEYPOINTS,
             "num_keypoints": 16, "area": 600},
            {"id": 102, "image_id": 7, "category_id": 1, "bbox": [30, 5, 20, 10], "iscrowd": 1,
             "segmentation": rle, "area": 200},
            {"id": 103, "image_id": 7, "category_id": 2, "bbox": [0, 0, 5, 5]},
            {"id": 104, "image_id": 9, "category_id": 1, "bbox": [1, 1, 10, 10]},
        ],
    }
    data.update(overrides)
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path, data


def test_people_from_polygons_rle_and_keypoints(tmp_path):
    path, _ = coco_file(tmp_path)
    people = CocoPeople(CocoAnnotations.load(str(path)))(
        Frame(np.zeros((40, 60, 3), np.uint8), "a/one.png"), [])
    assert [p.annotation_id for p in people] == [101, 102]  # the dog is not a person
    poly, crowd = people
    assert poly.mask[3:33, 2:22].mean() > 0.9 and poly.mask.sum() < 700
    np.testing.assert_allclose(poly.box, [2, 3, 22, 33])
    assert poly.keypoint_format == "coco17" and poly.keypoints2d.shape == (17, 3)
    assert list(poly.keypoints2d[:3, 2]) == [1.0, 0.0, 0.5]  # v 2 -> 1, 0 -> 0, 1 -> 0.5
    assert crowd.mask.sum() == 200 and crowd.mask[5:15, 30:50].all()
    assert crowd.uncertain and not poly.uncertain  # a crowd can only be masked


def test_faces_outside_annotations_are_still_covered(tmp_path):
    from understudy.scene import Face

    path, _ = coco_file(tmp_path)
    inside = Face(np.array([5, 4, 15, 14], np.float32), 0.9)
    stray = Face(np.array([40, 25, 50, 35], np.float32), 0.8)
    people = CocoPeople(CocoAnnotations.load(str(path)))(
        Frame(np.zeros((40, 60, 3), np.uint8), "a/one.png"), [inside, stray])
    assert people[0].faces == [inside]
    assert people[-1].faces == [stray] and people[-1].uncertain


def test_round_trip_keeps_ids_and_only_processed_images(tmp_path):
    path, data = coco_file(tmp_path)
    out = carry_annotations(str(path), str(tmp_path / "out"), ["as_1/a/one.png"])
    carried = json.loads(open(out).read())
    assert carried["images"] == [data["images"][0]]
    assert carried["annotations"] == data["annotations"][:3]  # ids and fields unchanged
    assert carried["categories"] == data["categories"] and carried["info"] == data["info"]
    again = CocoAnnotations.load(out)  # a valid COCO file again
    assert set(again.images) == {"a/one.png"}


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "a/../../b.png", "C:/x.png"])
def test_paths_outside_the_root_are_refused(tmp_path, name):
    path, data = coco_file(tmp_path)
    data["images"][0]["file_name"] = name
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="outside the image root"):
        CocoAnnotations.load(str(path))


@pytest.mark.parametrize("change,message", [
    ({"images": "nope"}, "not a COCO file"),
    ({"categories": [{"id": 1, "name": "cat"}]}, "no category named 'person'"),
    ({"annotations": [{"id": 1, "image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]}]},
     "image_id 99"),
    ({"annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, -1, 1]}]},
     "bbox"),
    ({"annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1],
                       "keypoints": [1, 2]}]}, "keypoints"),
])
def test_bad_files_get_a_clear_error(tmp_path, change, message):
    path, _ = coco_file(tmp_path, **change)
    with pytest.raises(UsageError, match=message):
        CocoAnnotations.load(str(path))


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(UsageError, match="not valid JSON"):
        CocoAnnotations.load(str(bad))
    with pytest.raises(UsageError, match="no such file"):
        CocoAnnotations.load(str(tmp_path / "missing.json"))


def test_mismatched_images_fail_that_input(tmp_path):
    path, _ = coco_file(tmp_path)
    stage = CocoPeople(CocoAnnotations.load(str(path)))
    with pytest.raises(InputError, match="not listed"):
        stage(Frame(np.zeros((40, 60, 3), np.uint8), "other.png"), [])
    with pytest.raises(InputError, match="60x40"):
        stage(Frame(np.zeros((41, 60, 3), np.uint8), "a/one.png"), [])
    # Without an image root, a base-name file_name cannot be checked to fit one image only.
    with pytest.raises(InputError, match="not listed"):
        stage(Frame(np.zeros((40, 60, 3), np.uint8), "nested/two.png"), [])


def test_base_name_fits_one_image_only(tmp_path):
    """Issue 16, defect 5: a record ``two.png`` must not describe both a/two.png and
    b/two.png; with one such image under the image root, it does describe it."""
    path, _ = coco_file(tmp_path)
    root = tmp_path / "images"
    (root / "nested").mkdir(parents=True)
    (root / "nested" / "two.png").write_bytes(b"x")
    frame = Frame(np.zeros((40, 60, 3), np.uint8), "nested/two.png")
    stage = CocoPeople(CocoAnnotations.load(str(path), image_root=str(root)))
    assert len(stage(frame, [])) == 1
    (root / "other").mkdir()
    (root / "other" / "two.png").write_bytes(b"x")
    stage = CocoPeople(CocoAnnotations.load(str(path), image_root=str(root)))
    for source in ("nested/two.png", "other/two.png"):
        with pytest.raises(InputError, match="fits 2 images"):
            stage(Frame(np.zeros((40, 60, 3), np.uint8), source), [])


def test_perceiver_uses_annotations_instead_of_detecting(tmp_path):
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    path, _ = coco_file(tmp_path)
    perceiver = build_perceiver(PerceptionOptions(target="people", annotations=str(path)),
                                face_detector=lambda: (lambda image: []))
    scene = perceiver.perceive(Frame(np.zeros((40, 60, 3), np.uint8), "a/one.png"))
    assert [p.annotation_id for p in scene.people] == [101, 102]
    with pytest.raises(UsageError, match="--target people"):
        PerceptionOptions(target="faces", annotations=str(path))
