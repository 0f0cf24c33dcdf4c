"""Is MediaPipe's pose the person's posture? Checks against their mask and MoveNet's keypoints.

MediaPipe Pose sees one person per crop and is usually right about them; on small walkers,
seen from behind or half behind a road sign, it sometimes folds the legs under the hips or
turns the body upside down, and a stand-in fitted to that sits in mid-air or stands on its
head. MoveNet's COCO-17 keypoints of the same person are a second opinion: perception asks
for them when the landmarks look doubtful (``assemble.PeopleAssembler._second_opinion``), and
RefSD follows them when they stand the same person upright on their feet
(``methods/refsd.py: pose_entry``). Ratios are of the person's mask or box height.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from understudy.regions import mask_bbox
from understudy.scene import MEDIAPIPE_OF_COCO17

# MediaPipe's lowest foot landmark lies 0-13 % of a person's height above the bottom of their
# mask for 102 of the 117 people posed in the labelled set and 15 held-out street frames (below
# it for 9: feet hidden or cut). On small walkers it sometimes folds the legs under the hips:
# knees and ankles at hip height, 31 % and 93 % of the height short of the feet (vtest frames
# 160 and 40), a stand-in seated in mid-air. MoveNet's ankles lay 1-15 % above the feet for 94
# of the 107 it saw, 3 % and 13 % for these two. Below the mask they are legs imagined behind
# something: at vtest frame 700 they ran 18 % into the road sign a man stood behind, and his
# stand-in's feet crumpled there.
MAX_FEET_GAP = 0.2
MIN_COCO17_FEET_GAP = -0.05
FEET = (27, 28, 29, 30, 31, 32)  # MediaPipe's ankles, heels and toes
COCO17_ANKLES = (15, 16)
COCO17_SEEN = 0.2  # a MoveNet keypoint above this score is seen


def feet_gap(feet: np.ndarray, mask: np.ndarray | None) -> float | None:
    """How far the lowest of the ``feet`` points (``(N, 2+)`` image x, y) lies above the bottom
    of the person's ``mask``, over the mask's height: about 0.05 for a standing body, negative
    for feet hidden below the mask (behind a table, cut by the frame). None without either."""
    bounds = mask_bbox(mask) if mask is not None else None
    if bounds is None or len(feet) == 0:
        return None
    height = bounds[3] - bounds[1]
    return float(bounds[3] - np.max(np.asarray(feet)[:, 1])) / height if height > 0 else None


def folded_legs(keypoints2d: np.ndarray, mask: np.ndarray | None) -> bool:
    """Whether MediaPipe's landmarks end ``MAX_FEET_GAP`` or more above the person's feet."""
    gap = feet_gap(np.asarray(keypoints2d)[list(FEET)], mask)
    return gap is not None and gap > MAX_FEET_GAP


def reach_feet(keypoints_coco17: np.ndarray, mask: np.ndarray | None) -> bool:
    """Whether COCO-17 keypoints have a seen ankle at the person's feet: at most
    ``MAX_FEET_GAP`` above the bottom of their mask, and not below it."""
    kp = np.asarray(keypoints_coco17)[list(COCO17_ANKLES)]
    gap = feet_gap(kp[kp[:, 2] >= COCO17_SEEN], mask)
    return gap is not None and MIN_COCO17_FEET_GAP <= gap <= MAX_FEET_GAP


# COCO-17 head and torso joints (nose, eyes, ears, shoulders, hips): where two skeletons of
# one person agree even when one folds the legs.
COCO17_UPPER = (0, 1, 2, 3, 4, 5, 6, 11, 12)
SAME_BODY_JOINTS, SAME_BODY_SHARE = 4, 0.1


def coco_order(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe's 33 landmarks as the 17 COCO joints ``(17, 3)``."""
    return np.asarray(landmarks, np.float64)[list(MEDIAPIPE_OF_COCO17)]


def same_skeleton(ours: np.ndarray, theirs: np.ndarray, box: np.ndarray, their_score: float,
                  min_joints: int, share: float, joints: Sequence[int] = range(17)) -> bool:
    """Whether two sets of COCO-17 joints are one skeleton: at least ``min_joints`` of
    ``joints`` seen by both (ours at 0.5, theirs at ``their_score``), their median distance
    within ``share`` of the box's height."""
    ours = np.asarray(ours, np.float64)[list(joints)]
    theirs = np.asarray(theirs, np.float64)[list(joints)]
    both = (ours[:, 2] >= 0.5) & (theirs[:, 2] >= their_score)
    if both.sum() < min_joints:
        return False
    distance = np.median(np.linalg.norm(ours[both, :2] - theirs[both, :2], axis=1))
    return bool(distance <= share * max(float(box[3] - box[1]), 1.0))


def same_upper_body(keypoints2d: np.ndarray, keypoints_coco17: np.ndarray,
                    box: np.ndarray) -> bool:
    """Whether MediaPipe's landmarks and COCO-17 keypoints put one head and torso in ``box``:
    ``SAME_BODY_JOINTS`` of them seen by both, their median distance within
    ``SAME_BODY_SHARE`` of the box's height. A neighbour's keypoints are elsewhere (vtest frame
    570: two people one behind the other, and each model posed a different one in the front
    one's box)."""
    return same_skeleton(coco_order(keypoints2d), keypoints_coco17, box, COCO17_SEEN,
                         SAME_BODY_JOINTS, SAME_BODY_SHARE, COCO17_UPPER)


# How far the head lies above the hips, over the box's height: 0.3-0.45 for a standing
# person. MediaPipe put a walker's head below his hips (vtest frame 170: -0.36, a stand-in
# upside down) or at their height (frame 150: 0.05) where MoveNet had him upright (0.36,
# 0.32); on 347 people posed in street frames and photos, 10 were under 0.1.
MIN_UPRIGHT, SURE_UPRIGHT = 0.1, 0.2


def head_above_hips(keypoints2d: np.ndarray, box: np.ndarray) -> float:
    """How far MediaPipe's nose lies above the middle of its hips, over the box's height."""
    k = np.asarray(keypoints2d, np.float64)
    return float(k[[23, 24], 1].mean() - k[0, 1]) / max(float(box[3] - box[1]), 1.0)


def upside_down(keypoints2d: np.ndarray, box: np.ndarray) -> bool:
    """Whether MediaPipe's nose lies below the middle of its hips: a body on its head. On
    street video that is MediaPipe gone wrong (a woman walking behind a man at vtest frame 759,
    nose 0.8 of her box below her hips; a walker at frame 757 with his hips 2.5 boxes above his
    head), not a handstand."""
    return head_above_hips(keypoints2d, box) < 0.0


def coco17_head_above_hips(keypoints_coco17: np.ndarray, box: np.ndarray) -> float | None:
    """The same for COCO-17 keypoints (seen head joints and hips), or None when unseen."""
    k = np.asarray(keypoints_coco17, np.float64)
    head = k[:5][k[:5, 2] >= COCO17_SEEN]
    hips = k[11:13][k[11:13, 2] >= COCO17_SEEN]
    if len(head) == 0 or len(hips) == 0:
        return None
    return float(hips[:, 1].mean() - head[:, 1].mean()) / max(float(box[3] - box[1]), 1.0)


def doubtful_landmarks(keypoints2d: np.ndarray, mask: np.ndarray | None,
                       box: np.ndarray) -> bool:
    """Whether MediaPipe's landmarks may not be the person's posture: legs folded above the
    feet, or the head not above the hips (a second opinion is worth asking)."""
    return folded_legs(keypoints2d, mask) or head_above_hips(keypoints2d, box) < MIN_UPRIGHT


def coco17_to_follow(keypoints_coco17: np.ndarray, keypoints2d: np.ndarray,
                     mask: np.ndarray | None, box: np.ndarray) -> bool:
    """Whether a stand-in should follow the person's COCO-17 keypoints rather than MediaPipe's
    landmarks: MediaPipe folds the legs above the feet where the keypoints put the same head
    and torso on legs that reach them, or MediaPipe's head is not above the hips where the
    keypoints, centred in the person's box, stand upright."""
    if (folded_legs(keypoints2d, mask) and reach_feet(keypoints_coco17, mask)
            and same_upper_body(keypoints2d, keypoints_coco17, box)):
        return True
    if head_above_hips(keypoints2d, box) >= MIN_UPRIGHT:
        return False
    upright = coco17_head_above_hips(keypoints_coco17, box)
    if upright is None or upright < SURE_UPRIGHT:
        return False
    k = np.asarray(keypoints_coco17)
    seen = k[k[:, 2] >= COCO17_SEEN, :2]
    x, y = np.median(seen[:, 0]), np.median(seen[:, 1])
    return bool(box[0] <= x <= box[2] and box[1] <= y <= box[3])
