"""Privacy metrics: can the originals' identities be found again in the anonymized images?

Each original face is one entry. Its query is the face a recognizer finds at the same place
in the anonymized image (IoU >= 0.3 with the original's box); a face the recognizer cannot
find is a query that fails, never a success for the attacker.

* Gallery search (the RefSD poster's R@1/5/10 and mAP): queries ranked against the gallery
  of all original faces. Without identity labels every original face is its own identity,
  so the gallery holds the query's own original: that is the *full-reference* setting
  (the attacker holds the original; Lorenz et al. re-identified depth/edge-guided
  diffusion at 68.1 % top-1 this way). With identity labels, the *gallery* setting also
  runs as in Market-1501: only other images of the same identity count as matches, the
  query's own original is left out of the gallery.
* Identity-leak rate: share of original faces whose anonymized face the recognizer still
  verifies as the same person at its standard threshold.
* Pair similarity: the recognizer's score between each anonymized face and its original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from understudy.regions import box_iou
from understudy.evaluation.recognizers import closeness, matches

PAIR_IOU = 0.3
RANKS = (1, 5, 10)


@dataclass
class FaceEntry:
    """One original face and what the anonymized image gives at its place."""

    image: str
    index: int
    vector: np.ndarray
    query: np.ndarray | None  # the anonymized face's vector; None when not found
    identity: str


def pair_boxes(original: list, anonymized: list, min_iou: float = PAIR_IOU) -> list[int | None]:
    """For each original box the index of the anonymized box it pairs with (greedy, by IoU)."""
    pairs = sorted(((box_iou(o, a), i, j) for i, o in enumerate(original)
                    for j, a in enumerate(anonymized)), reverse=True)
    out: list[int | None] = [None] * len(original)
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if out[i] is None and j not in used:
            out[i] = j
            used.add(j)
    return out


def face_privacy(entries: list[FaceEntry], recognizer, threshold: float,
                 labelled: bool) -> dict[str, Any]:
    """Every figure of one recognizer on one anonymized set (percentages 0-100)."""
    n = len(entries)
    if n == 0:
        return {"faces": 0}
    metric = recognizer.metric
    gallery = np.stack([e.vector for e in entries])
    found = [e for e in entries if e.query is not None]
    pair_scores = [float(recognizer.similarity(e.query[None], e.vector[None])[0, 0]) for e in found]
    leaks = int(matches(metric, np.array(pair_scores), threshold).sum()) if found else 0
    out: dict[str, Any] = {
        "faces": n,
        "not_found": n - len(found),
        "leak_rate": 100.0 * leaks / n,
        "leaks": leaks,
        "pair_scores": [round(s, 4) for s in pair_scores],
        "pair_score_mean": float(np.mean(pair_scores)) if pair_scores else None,
        "metric": metric,
        "threshold": threshold,
        "gallery_size": n,
    }
    out["full_reference"] = retrieval(entries, gallery, recognizer, exclude_own=False)
    if labelled:
        out["gallery"] = retrieval(entries, gallery, recognizer, exclude_own=True)
    return out


def retrieval(entries: list[FaceEntry], gallery: np.ndarray, recognizer,
               exclude_own: bool) -> dict[str, Any]:
    """R@k and mAP of the queries against the gallery of originals.

    ``exclude_own``: Market-1501's protocol, the query's own image is not in the gallery and
    only other images of its identity are matches; queries without such images are skipped.
    """
    identities = np.array([e.identity for e in entries])
    images = np.array([e.image for e in entries])
    hits = {k: [] for k in RANKS}
    aps: list[float] = []
    skipped = 0
    for i, e in enumerate(entries):
        if exclude_own:
            keep = images != e.image
            relevant = (identities == e.identity) & keep
        else:
            keep = np.ones(len(entries), bool)
            relevant = np.zeros(len(entries), bool)
            relevant[i] = True
        if not relevant.any():
            skipped += 1
            continue
        if e.query is None:  # the recognizer found no face: the attack failed
            for k in RANKS:
                hits[k].append(0.0)
            aps.append(0.0)
            continue
        scores = closeness(recognizer.metric, recognizer.similarity(e.query[None], gallery)[0])
        order = np.argsort(-scores[keep], kind="stable")
        ranked_relevant = relevant[keep][order]
        positions = np.flatnonzero(ranked_relevant)
        for k in RANKS:
            hits[k].append(float(positions[0] < k))
        precision = np.arange(1, positions.size + 1) / (positions + 1)
        aps.append(float(precision.mean()))
    if not aps:
        return {"queries": 0, "skipped": skipped}
    out: dict[str, Any] = {f"R@{k}": 100.0 * float(np.mean(v)) for k, v in hits.items()}
    out.update({"mAP": 100.0 * float(np.mean(aps)), "queries": len(aps), "skipped": skipped})
    return out
