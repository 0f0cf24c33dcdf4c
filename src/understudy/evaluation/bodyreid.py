"""Body re-identification: can an attacker find each original person again from the output?

Gallery = every person of the originals (one crop per person box); query = the same box in
the anonymized image, embedded by an attacker (the ImageNet appearance embedder, the
clothing-colour histogram, a user-given re-ID model). Two protocols, as for faces:

* full reference: the query's own original is the one relevant gallery item (the attacker
  holds the original photo);
* gallery (with identities from labels or ``--identity-pattern``): as in Market-1501, the
  query's own photo leaves the gallery and only *other* photos of the same identity count
  as matches; queries whose identity appears in no other photo are skipped.

Figures are percentages: R@1/5/10, mAP, and the mean cosine between each pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from understudy.evaluation.privacy import FaceEntry, retrieval

# One entry per original person: the same record faces use (image, index, original vector,
# anonymized vector, identity).
BodyEntry = FaceEntry


class _Cosine:
    """Unit vectors compared by cosine: higher is closer."""

    metric = "cosine"

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(a, np.float64) @ np.asarray(b, np.float64).T


def body_reid(entries: list[BodyEntry], labelled: bool) -> dict[str, Any]:
    """R@k and mAP of one attacker on one set; top-level R@k are the full-reference ones."""
    if not entries:
        return {"people": 0}
    gallery = np.stack([e.vector for e in entries])
    pairs = [float(_Cosine.similarity(e.query[None], e.vector[None])[0, 0])
             for e in entries if e.query is not None]
    full = retrieval(entries, gallery, _Cosine, exclude_own=False)
    out: dict[str, Any] = {"people": len(entries),
                           "pair_cosine_mean": float(np.mean(pairs)) if pairs else None,
                           "chance_R@1": 100.0 / len(entries),
                           **{k: full.get(k) for k in ("R@1", "R@5", "R@10", "mAP")},
                           "full_reference": full}
    if labelled:
        out["gallery"] = retrieval(entries, gallery, _Cosine, exclude_own=True)
        out["gallery_R@1"] = out["gallery"].get("R@1")  # flat, for the report's tables
        out["gallery_mAP"] = out["gallery"].get("mAP")
    return out
