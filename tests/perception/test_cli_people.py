"""`understudy anonymize --target people --method maskout` on real people, end to end."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import photos
from understudy.cli import main
from understudy.scene import Frame


def test_maskout_masks_every_person_and_the_audit_lists_them(tmp_path, perceiver):
    image = photos.montage(["biden.jpg", "obama.jpg", "obama3.jpg"])
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "group.png")
    code = main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--target", "people", "--method", "maskout"])
    assert code == 0
    row = json.loads((tmp_path / "out" / "audit.jsonl").read_text().splitlines()[0])
    regions = [r for r in row["regions"] if r["kind"] == "person"]
    assert len(regions) == 3 and all(r["outcome"] == "replaced" for r in regions)
    assert all(len(r["box"]) == 4 for r in regions)
    out = np.asarray(Image.open(tmp_path / "out" / "group.png").convert("RGB"))
    scene = perceiver.perceive(Frame(image, "group.png"))
    filled = (out == 0).all(-1)  # maskout's default fill is black
    for person in scene.people:  # every pixel of every person is filled
        assert filled[person.mask].mean() > 0.99


def test_annotations_in_and_carried_out(tmp_path):
    image = photos.montage(["biden.jpg"], height=300)
    h, w = image.shape[:2]
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "one.png")
    coco = {"images": [{"id": 5, "file_name": "one.png", "width": w, "height": h}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 77, "image_id": 5, "category_id": 1,
                             "bbox": [10, 10, w - 20, h - 20], "iscrowd": 0,
                             "segmentation": [[10, 10, w - 10, 10, w - 10, h - 10, 10, h - 10]]}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    code = main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--target", "people", "--method", "maskout",
                 "--annotations", str(tmp_path / "coco.json")])
    assert code == 0
    carried = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert carried["annotations"][0]["id"] == 77 and carried["images"] == coco["images"]
    out = np.asarray(Image.open(tmp_path / "out" / "one.png").convert("RGB"))
    assert (out[12:h - 12, 12:w - 12] == 0).all()  # the annotated polygon is filled
