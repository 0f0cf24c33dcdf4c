"""Utility metrics against their references (issue 15, item 9): detection AP@[.5:.95] and AP50
equal pycocotools' COCOeval on the same boxes; macro-F1 sits beside accuracy."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from understudy.utility.metrics import detection_metrics, macro_f1


def random_detections(seed: int, images: int = 12):
    """People boxes and jittered, partly missing, partly spurious scored detections."""
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(images):
        n = int(rng.integers(0, 5))
        xy = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(20, 90, (n, 2))
        gt = np.concatenate([xy, xy + wh], axis=1)
        keep = gt[rng.random(n) < 0.8]
        jitter = keep + rng.normal(0, 6, keep.shape)
        extra_xy = rng.uniform(0, 200, (int(rng.integers(0, 3)), 2))
        extra = np.concatenate([extra_xy, extra_xy + rng.uniform(20, 90, extra_xy.shape)], 1)
        boxes = np.concatenate([jitter, extra]).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        gts.append(gt)
        dets.append((boxes, rng.random(len(boxes))))
    return dets, gts


def coco_reference(dets, gts) -> tuple[float, float]:
    """pycocotools' AP@[.5:.95] and AP50 (all areas, 100 detections per image)."""
    pycoco = pytest.importorskip("pycocotools.cocoeval")
    from pycocotools.coco import COCO

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    images = [{"id": i + 1, "width": 400, "height": 400} for i in range(len(gts))]
    anns = [{"id": k + 1, "image_id": i + 1, "category_id": 1, "bbox": xywh(b), "iscrowd": 0,
             "area": float((b[2] - b[0]) * (b[3] - b[1]))}
            for k, (i, b) in enumerate((i, b) for i, g in enumerate(gts) for b in g)]
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        results = [{"image_id": i + 1, "category_id": 1, "bbox": xywh(b), "score": float(s)}
                   for i, (boxes, scores) in enumerate(dets) for b, s in zip(boxes, scores)]
        ev = pycoco.COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_ap_matches_cocoeval(seed):
    dets, gts = random_detections(seed)
    ours = detection_metrics(dets, gts)
    ap, ap50 = coco_reference(dets, gts)
    assert 0.05 < ap < ap50 < 1  # a non-trivial case
    assert ours["mAP@[.5:.95]"] == pytest.approx(ap, abs=1e-6)
    assert ours["AP50"] == pytest.approx(ap50, abs=1e-6)


def test_macro_f1_weighs_every_class_alike():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    majority = np.zeros(10, int)  # always the common class: 80 % accuracy
    # class 0: P = 0.8, R = 1 -> F1 = 8/9; class 1: no hit -> 0; macro = 4/9
    assert macro_f1(majority, labels, 2) == pytest.approx(4 / 9)
    assert macro_f1(labels, labels, 2) == 1.0
    # unknown labels (-1) are left out; classes neither labelled nor predicted do not count
    assert macro_f1(np.array([2, 2, 0]), np.array([2, 2, -1]), 3) == 1.0
    assert np.isnan(macro_f1(np.array([1]), np.array([-1]), 2))
