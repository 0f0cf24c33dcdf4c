"""Lift 2D COCO-17 keypoints to MediaPipe-style 33 landmarks with a depth prior, so a body can
be fitted to a person MediaPipe could not pose (seen from behind, occluded, cut off, seated
behind a table).

A single view gives no depth, so the lift supplies the most likely one from the body's own
proportions: pixels become metres through the longest seen segment (a segment can only look
shorter than it is, never longer), and a segment that looks shorter than its adult length
gets the missing length as depth, pointing the way the body faces (arms reach forward,
seated thighs point forward). The body faces the camera when its face is seen and away from
it otherwise; a side view turns the shoulders out of the image plane towards where the nose
points. The fit then weighs this made-up 3D lightly (``PRIOR_WEIGHT``) and the 2D keypoints
fully: the lift only picks the start and keeps depth plausible.

For someone with a face and no keypoints at all, ``upright_under_face`` makes the keypoints
up too: a body standing under the face, sized by it.

Output layout is MediaPipe's (``understudy.scene``): 2D ``(33, 3)`` pixels + visibility,
3D ``(33, 4)`` metres with the origin at the hip midpoint, x right, y down, z away from the
camera. Landmarks COCO does not have (mouth, hands, heels, toes) get visibility 0.
"""

from __future__ import annotations

import numpy as np

from understudy.scene import MEDIAPIPE_OF_COCO17
# Adult segment lengths between joint centres, metres (anny's rest skeleton at adult age and
# average height gives 0.27-0.30 upper arm, 0.25 forearm, 0.42-0.45 thigh and shin).
SEGMENTS = {  # (from, to) MediaPipe indices -> metres, and whether depth follows the facing
    (11, 13): (0.29, True), (13, 15): (0.25, True), (12, 14): (0.29, True),
    (14, 16): (0.25, True), (23, 25): (0.43, True), (25, 27): (0.42, False),
    (24, 26): (0.43, True), (26, 28): (0.42, False),
}
TORSO = 0.50  # shoulder midpoint to hip midpoint
SHOULDER_WIDTH = 0.34  # between the shoulder joints
HIP_WIDTH = 0.18
NOSE_FORWARD = 0.10  # nose in front of the neck line
HEIGHT = 1.70  # last resort scale: the box is one standing adult
# Keypoint score -> visibility: MoveNet scores clearly visible joints 0.3-0.7 and annotations
# map to 0.5 (labelled, hidden) or 1; below MIN_SCORE a keypoint is not used at all.
MIN_SCORE = 0.15
FULL_SCORE = 0.4
# Weight of the lifted 3D in the fit, against 1.0 for MediaPipe's measured world landmarks.
PRIOR_WEIGHT = 0.15


def visibility(scores: np.ndarray) -> np.ndarray:
    return np.clip((scores - MIN_SCORE) / (FULL_SCORE - MIN_SCORE), 0.0, 1.0) * (
        scores >= MIN_SCORE)


def lift_coco17(keypoints: np.ndarray, box: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(17, 3) COCO-17 ``x, y, score`` -> MediaPipe-layout (33, 3) 2D and (33, 4) 3D landmarks.

    ``box`` (the person's ``x0, y0, x1, y1``) sets the scale when no body segment is seen.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (17, 3):
        raise ValueError(f"COCO-17 keypoints must be (17, 3) x, y, score; got {kp.shape}")
    k2 = np.zeros((33, 3), np.float64)
    vis = np.zeros(33)
    for c, m in enumerate(MEDIAPIPE_OF_COCO17):
        k2[m, :2] = kp[c, :2]
        vis[m] = visibility(kp[c, 2:3])[0]
    vis[~np.isfinite(k2[:, :2]).all(1)] = 0.0
    k2[:, 2] = vis
    seen = vis > 0

    def mid(a: int, b: int) -> np.ndarray | None:
        pts = [k2[i, :2] for i in (a, b) if seen[i]]
        return np.mean(pts, axis=0) if pts else None

    # Pixels per metre: the largest ratio of seen length to true length (foreshortening only
    # shortens), torso first since it is the longest and least bent.
    ratios = []
    sh, hp = mid(11, 12), mid(23, 24)
    if seen[11] and seen[12] and seen[23] and seen[24]:
        ratios.append(np.linalg.norm(sh - hp) / TORSO)
    for (a, b), (length, _) in SEGMENTS.items():
        if seen[a] and seen[b]:
            ratios.append(np.linalg.norm(k2[a, :2] - k2[b, :2]) / length)
    if ratios:
        ppm = max(ratios)
    elif box is not None:
        ppm = max(float(box[3] - box[1]), 1.0) / HEIGHT
    else:
        raise ValueError("no body segment is seen and no box gives a scale")
    ppm = max(ppm, 1e-3)

    # Facing: the shoulders' order says it (the subject's left shoulder at image right faces
    # the camera, z -1; at image left faces away, +1) unless they overlap (a side view):
    # then towards the camera when the face is seen. A side view adds the nose's offset
    # from the shoulders. (A man seen from behind, head turned in profile, shows his nose:
    # the shoulders are the better witness.)
    face_seen = max(vis[0], vis[2], vis[5]) > 0.3
    forward = np.array([0.0, 0.0, -1.0 if face_seen else 1.0])
    across = k2[12, 0] - k2[11, 0] if seen[11] and seen[12] else 0.0
    if abs(across) > 0.1 * SHOULDER_WIDTH * ppm:
        forward[2] = np.sign(across)
    if sh is not None and seen[0]:
        forward[0] = np.clip((k2[0, 0] - sh[0]) / (0.15 * ppm), -1.0, 1.0)
    forward /= np.linalg.norm(forward)

    # Hip midpoint: the origin; under the shoulders by a torso when the hips are hidden.
    if hp is None:
        if sh is None:
            anchor = np.array([k2[seen, 0].mean(), k2[seen, 1].mean()]) if seen.any() else (
                np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]))
            hp = anchor + np.array([0.0, TORSO * ppm])
        else:
            hp = sh + np.array([0.0, TORSO * ppm])
    k3 = np.zeros((33, 4), np.float64)
    k3[:, :2] = (k2[:, :2] - hp) / ppm
    k3[:, 3] = vis
    up = np.array([0.0, -1.0, 0.0])
    for a, b, width in ((11, 12, SHOULDER_WIDTH), (23, 24, HIP_WIDTH)):
        if not (seen[a] and seen[b]):
            continue
        observed = np.linalg.norm(k3[a, :2] - k3[b, :2])
        # The subject's left (a) lies along up x forward: its z sign says which shoulder is
        # nearer; the missing width is depth.
        left_z = np.cross(up, forward)[2]
        dz = np.sqrt(max(width ** 2 - observed ** 2, 0.0)) / 2 * np.sign(left_z or 1.0)
        k3[a, 2] += dz
        k3[b, 2] -= dz
    for m in (0, 2, 5):
        k3[m, 2] += forward[2] * (NOSE_FORWARD if m == 0 else 0.8 * NOSE_FORWARD)
    # A hidden pair (hips under a table, shoulders out of frame) still anchors the fit's
    # hip-relative 3D term and the torso's orientation: place it a torso length from the
    # other pair, along the seen pair's left-right direction, with no weight of its own.
    for pair, other, width in (((23, 24), (11, 12), HIP_WIDTH),
                               ((11, 12), (23, 24), SHOULDER_WIDTH)):
        a, b = pair
        if seen[a] and seen[b]:
            continue
        if seen[other[0]] and seen[other[1]]:
            left = k3[other[0], :3] - k3[other[1], :3]
            left /= max(np.linalg.norm(left), 1e-6)
        else:
            left = np.cross(up, forward)
            left /= max(np.linalg.norm(left), 1e-6)
        centre = np.array([0.0, 0.0 if a == 23 else -TORSO, 0.0])
        for m, side in ((a, 1.0), (b, -1.0)):
            if not seen[m]:
                k3[m, :3] = centre + side * left * width / 2
                k2[m, :2] = hp + k3[m, :2] * ppm
    # Limbs from the trunk outwards: each child's depth is its parent's plus the missing
    # length, along the facing for arms and thighs (shins stay in the image plane).
    for (a, b), (length, follows) in SEGMENTS.items():
        if not seen[b]:
            continue
        observed = np.linalg.norm(k3[b, :2] - k3[a, :2]) if seen[a] else length
        dz = np.sqrt(max(length ** 2 - observed ** 2, 0.0)) * (forward[2] if follows else 0.0)
        k3[b, 2] = k3[a, 2] + dz
    return k2.astype(np.float32), k3.astype(np.float32)


# An upright body facing the camera, in face heights below the top of the face box (the
# classic figure canon, about 7.5 heads tall, with the face box taken as the head): joint
# height and half-width for COCO-17 joints 5-16 (shoulders, elbows, wrists, hips, knees,
# ankles; left of the subject first, at image right as they face the camera).
UPRIGHT_BODY = {5: (1.4, 0.9), 7: (2.8, 1.0), 9: (3.9, 1.0), 11: (3.8, 0.5), 13: (5.6, 0.45),
                15: (7.3, 0.45)}
# A face box cut by the image edge (within this share of the image's width of it) is narrower
# than the face: the face is at least this share of its height wide.
EDGE_SHARE, FACE_WIDTH = 0.02, 0.75


def upright_under_face(face_box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(17, 3) COCO-17 keypoints of a person standing upright under ``face_box``, facing the
    camera, sized by the face's height: the last pose for someone whose face was found but
    whose body neither MediaPipe nor MoveNet could pose (a bystander at the frame's edge
    behind a speaker). A prior, not a measurement; the fit follows it like keypoints."""
    w_img = size[1]
    x0, y0, x1, y1 = (float(v) for v in face_box)
    head = max(y1 - y0, 1.0)
    width = max(x1 - x0, FACE_WIDTH * head)
    centre = (x0 + x1) / 2
    edge = EDGE_SHARE * w_img
    if x0 <= edge and x1 < w_img - edge:  # cut by the left edge: the face reaches further left
        centre = x1 - width / 2
    elif x1 >= w_img - edge and x0 > edge:
        centre = x0 + width / 2
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = FULL_SCORE
    kp[0, :2] = centre, y0 + 0.6 * head  # nose
    for left, right, dy, dx in ((1, 2, 0.45, 0.2), (3, 4, 0.5, 0.45)):  # eyes, ears
        kp[left, :2] = centre + dx * width, y0 + dy * head
        kp[right, :2] = centre - dx * width, y0 + dy * head
    for left, (down, half) in UPRIGHT_BODY.items():
        kp[left, :2] = centre + half * head, y0 + down * head
        kp[left + 1, :2] = centre - half * head, y0 + down * head
    return kp
