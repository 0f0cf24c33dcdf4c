"""Test metrics: accuracy and macro-F1 per attribute; AP and recall for person detection.

Macro-F1 beside accuracy: on a skewed attribute (80 % one class) always answering the common
class scores 0.8 accuracy but 0.44 macro-F1, so a model that learned nothing shows.

AP follows COCO: greedy matching of score-sorted detections to unmatched ground truth at an
IoU threshold, precision made monotone, averaged over 101 recall points; "mAP@[.5:.95]" is
the mean over IoU 0.50:0.95 (COCO's headline "AP"), "AP50" at 0.5; both equal pycocotools'
COCOeval (tests/utility/test_metrics_reference.py). Recall50 is the share of people found at
IoU 0.5 among the top ``MAX_DETECTIONS`` detections per image.
"""

from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)
MAX_DETECTIONS = 100  # per image, as COCO's maxDets
MAP = "mAP@[.5:.95]"
F1_PREFIX = "macro-F1: "  # classification results: "source" = accuracy, "macro-F1: source"


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of correct predictions where the label is known (-1 = unknown)."""
    known = labels >= 0
    return float(np.mean(pred[known] == labels[known])) if known.any() else float("nan")


def macro_f1(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes that are labelled or predicted (where the label is known,
    -1 = unknown); a class never hit scores 0. NaN without known labels."""
    known = labels >= 0
    if not known.any():
        return float("nan")
    p, t = pred[known], labels[known]
    scores = []
    for c in range(n_classes):
        tp = int(np.sum((p == c) & (t == c)))
        n_pred, n_true = int(np.sum(p == c)), int(np.sum(t == c))
        if n_pred == 0 and n_true == 0:
            continue
        scores.append(2 * tp / (n_pred + n_true))
    return float(np.mean(scores))


def chance_levels(labels: np.ndarray, n_classes: int) -> dict[str, float]:
    """What a model without information reaches: uniform guess and majority class."""
    known = labels[labels >= 0]
    majority = float(np.bincount(known, minlength=n_classes).max() / len(known)) if len(known) else float("nan")
    return {"uniform": 1.0 / n_classes, "majority": majority}


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) IoU of x0, y0, x1, y1 boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _match(dets: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray], thr: float
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """(scores, true-positive flags) over all detections, and the number of people."""
    scores, tps = [], []
    for (boxes, sc), gt in zip(dets, gts):
        order = np.argsort(-sc, kind="stable")[:MAX_DETECTIONS]
        boxes, sc = boxes[order], sc[order]
        overlaps = iou(boxes, gt)
        taken = np.zeros(len(gt), bool)
        for d in range(len(boxes)):
            tp = False
            if len(gt):
                cand = np.where(~taken, overlaps[d], -1.0)
                j = int(np.argmax(cand))
                if cand[j] >= thr:
                    taken[j] = True
                    tp = True
            scores.append(sc[d])
            tps.append(tp)
    return np.asarray(scores, float), np.asarray(tps, bool), sum(len(g) for g in gts)


def average_precision(dets: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray],
                      thr: float = 0.5) -> tuple[float, float]:
    """(AP, max recall) at one IoU threshold; NaN when there are no people at all."""
    scores, tps, n_gt = _match(dets, gts, thr)
    if n_gt == 0:
        return float("nan"), float("nan")
    if len(scores) == 0:
        return 0.0, 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(tps[order])
    fp = np.cumsum(~tps[order])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1e-9)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    sampled = np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0)
    return float(np.mean(sampled)), float(recall[-1])


def detection_metrics(dets: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray]
                      ) -> dict[str, float]:
    aps = [average_precision(dets, gts, t)[0] for t in IOU_THRESHOLDS]
    ap50, recall50 = average_precision(dets, gts, 0.5)
    return {MAP: float(np.mean(aps)), "AP50": ap50, "recall50": recall50}
