"""Pixel regions of faces and people, and the fail-closed fill.

A face detector's box covers eyes to chin; hair, ears and forehead identify people too, so
a face region is an ellipse over the box grown to the whole head (deface's mask-scale idea,
with a larger default because deface's 1.3 leaves hair and ears visible).
"""

from __future__ import annotations

import numpy as np

# Width and height growth of a face box to cover the head, and how far up (in box heights)
# the centre moves: faces sit in the lower part of the head.
HEAD_SCALE = (1.6, 1.9)
HEAD_SHIFT_UP = 0.15
FAIL_CLOSED_COLOR = (0, 0, 0)


def clip_box(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Clip an ``x0, y0, x1, y1`` box to an image of ``size`` = (H, W)."""
    h, w = size
    x0, y0, x1, y1 = [float(v) for v in box]
    return np.array([min(max(x0, 0), w), min(max(y0, 0), h), min(max(x1, 0), w),
                     min(max(y1, 0), h)], np.float32)


def box_iou(a, b) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes (0 for empty ones)."""
    ix = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    iy = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def union_box(a, b) -> np.ndarray:
    """The smallest box holding both ``x0, y0, x1, y1`` boxes."""
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])],
                    np.float32)


def inside_share(box, outer) -> float:
    """The share of ``box``'s area that lies inside ``outer``."""
    ix = max(0.0, float(min(box[2], outer[2]) - max(box[0], outer[0])))
    iy = max(0.0, float(min(box[3], outer[3]) - max(box[1], outer[1])))
    return ix * iy / max(box_area(box), 1e-6)


def moved_points(points: np.ndarray | None, offset: np.ndarray) -> np.ndarray | None:
    """A copy of ``(N, 2+)`` points (x, y first; keypoints, landmarks) moved by ``offset``."""
    if points is None:
        return None
    out = np.array(points, np.float32, copy=True)
    if out.ndim == 2 and out.shape[1] >= 2:
        out[:, :2] += offset
    return out


def points_box(points: np.ndarray, seen: float = 0.5) -> np.ndarray | None:
    """The ``x0, y0, x1, y1`` box of the ``(N, 3)`` points (x, y, score) whose score reaches
    ``seen``, or None when none does."""
    points = np.asarray(points)
    xy = points[points[:, 2] >= seen, :2]
    if len(xy) == 0:
        return None
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)


def box_area(box) -> float:
    """The area of an ``x0, y0, x1, y1`` box (0 for an empty one)."""
    return max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0)


def int_box(box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The pixel slice bounds that cover a float box, clipped to the image."""
    x0, y0, x1, y1 = clip_box(box, size)
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def square_tiles(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """``x0, y0, x1, y1`` squares of side ``min(H, W)`` along the longer side of an image of
    ``size`` (height, width), overlapping by at least a third of a side, so nobody is only
    ever cut in half: what a model with a square input sees of an elongated image without
    squeezing it. One square for a (nearly) square image."""
    h, w = size
    side = min(h, w)
    if max(h, w) <= side * 1.1:
        return [(0, 0, w, h)]
    count = int(np.ceil((max(h, w) - side) / (side * 2 / 3))) + 1
    starts = np.linspace(0, max(h, w) - side, count).round().astype(int)
    if w >= h:
        return [(int(s), 0, int(s) + side, h) for s in starts]
    return [(0, int(s), w, int(s) + side) for s in starts]


def head_box(face_box: np.ndarray, scale: tuple[float, float] = HEAD_SCALE) -> np.ndarray:
    """Grow a face box to the head it belongs to (unclipped)."""
    x0, y0, x1, y1 = [float(v) for v in face_box]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - HEAD_SHIFT_UP * (y1 - y0)
    hw, hh = (x1 - x0) * scale[0] / 2, (y1 - y0) * scale[1] / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


def ellipse_mask(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A filled ellipse inscribed in ``box``, as an (H, W) bool mask."""
    h, w = size
    x0, y0, x1, y1 = [float(v) for v in box]
    mask = np.zeros((h, w), bool)
    bx0, by0, bx1, by1 = int_box(box, size)
    if bx1 <= bx0 or by1 <= by0:
        return mask
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max((x1 - x0) / 2, 0.5), max((y1 - y0) / 2, 0.5)
    ys, xs = np.mgrid[by0:by1, bx0:bx1]
    inside = ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0
    mask[by0:by1, bx0:bx1] = inside
    return mask


def box_mask(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, bool)
    x0, y0, x1, y1 = int_box(box, size)
    mask[y0:y1, x0:x1] = True
    return mask


def face_region_mask(face_box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The pixels to anonymize for one face: an ellipse over the whole head."""
    return ellipse_mask(head_box(face_box), size)


def person_region_mask(person, size: tuple[int, int]) -> np.ndarray:
    """The pixels to anonymize for one person: the instance mask, or the box if there is none
    or the mask cannot be trusted to hold them (``unvouched_mask``).

    The person's faces are added too (a segmenter can miss hair or a face at the mask's
    edge), and so are the head, limbs, hands and feet their keypoints show
    (``extremities_mask``): segmenters drop hands, feet and hair first, and those identify.
    An upright person whose region still falls short of their box's height (``short_of_box``)
    gets the box as well: the mask and keypoints have lost part of them.
    """
    credible = person.mask is not None and person.mask.any() and not unvouched_mask(person)
    if credible:
        mask = person.mask.astype(bool, copy=True)
    else:
        mask = box_mask(person.box, size)
        if person.mask is not None:
            mask |= person.mask.astype(bool)
    for face in person.faces:
        mask |= face_region_mask(face.box, size)
    if person.mask is not None and person.mask.any():  # a lone box holds its keypoints
        mask |= extremities_mask(person, size)
        if credible and short_of_box(mask, person.box):
            mask |= box_mask(person.box, size)
    return mask


# A standing or walking person fills 35-75 % of their box (the labelled set's sure people);
# a mask under a fifth of an upright box has lost the person (a segmenter on a crop where
# they are a sliver at the image edge kept 35 of 1880 px, and the rest stayed visible).
SPARSE_MASK_FILL = 0.2
# Only upright boxes: a weak box over a whole street group (wider than tall, fill 2-4 %)
# must not become a black bar; its people are found on their own.
UPRIGHT_ASPECT = 1.2


# An upright person's region (mask, faces and the keypoints' head, limbs and feet) reaches
# from near the top of their box to near its bottom: 0.87 and more of the box's height for
# every upright person of the labelled set whose mask is kept. A walker cut by the right edge
# of vtest frame 40 had a region on the top 63 % of his box only (his pose crop's body was the
# bush above him, his keypoints nonsense, selfie segmentation saw nothing of him): his legs
# and jacket stayed visible beside his stand-in.
MIN_REGION_SPAN = 0.75


def short_of_box(region: np.ndarray, box: np.ndarray) -> bool:
    """Whether ``region`` spans less than ``MIN_REGION_SPAN`` of an upright ``box``'s height
    (from its first row inside the box to its last)."""
    x0, y0, x1, y1 = int_box(box, region.shape)
    if x1 <= x0 or y1 <= y0 or (y1 - y0) < UPRIGHT_ASPECT * (x1 - x0):
        return False
    rows = np.flatnonzero(region[y0:y1, x0:x1].any(axis=1))
    return rows.size == 0 or (rows[-1] + 1 - rows[0]) < MIN_REGION_SPAN * (y1 - y0)


def unvouched_mask(person) -> bool:
    """Whether the box, not the mask, must stand for an upright person: the mask covers too
    little of the box to be them, or the person is uncertain (filled solid, fail closed), where
    the segmenter on their crop may have found a sure neighbour instead of them."""
    x0, y0, x1, y1 = int_box(person.box, person.mask.shape)
    if x1 <= x0 or y1 <= y0 or (y1 - y0) < UPRIGHT_ASPECT * (x1 - x0):
        return False
    return person.uncertain or box_fill(person.mask, person.box) < SPARSE_MASK_FILL


def box_fill(mask: np.ndarray, box: np.ndarray) -> float | None:
    """The share of ``box``'s pixels that ``mask`` holds; None for a box with no pixels."""
    x0, y0, x1, y1 = int_box(box, mask.shape)
    if x1 <= x0 or y1 <= y0:
        return None
    return float(mask[y0:y1, x0:x1].mean())


# COCO-17 index of each MediaPipe-33 landmark used for coverage (nose, eyes, ears,
# shoulders, elbows, wrists, hips, knees, ankles).
_COCO_OF_MEDIAPIPE = {0: 0, 2: 1, 5: 2, 7: 3, 8: 4, 11: 5, 12: 6, 13: 7, 14: 8, 15: 9, 16: 10,
                      23: 11, 24: 12, 25: 13, 26: 14, 27: 15, 28: 16}
# A keypoint counts when its visibility / score reaches this (MediaPipe invents hidden limbs
# with low visibility; MoveNet scores clearly seen joints from 0.3).
KEYPOINT_SEEN = 0.5
COCO_SEEN = 0.3
# Sizes as shares of the body's own segments (adult proportions: hand ~0.75 of the forearm,
# foot ~0.6 of the shin, head ~0.65 of the shoulder width; limbs ~0.35 of their length
# thick), each rounded up: covering a little background costs nothing, a visible hand does.
HAND_REACH, HAND_RADIUS = 0.35, 0.45 # disc centre beyond the wrist, radius (x forearm)
FOOT_RADIUS = 0.45  # x shin
HEAD_RADIUS, HEAD_UP = 0.5, 0.3  # x shoulder width; centre moved up by this x radius (hair)
HEAD_TORSO = 0.25  # head radius ~12 cm against a ~50 cm shoulder-to-hip torso
LIMB_WIDTH = 0.35  # x segment length


def _keypoints_mp(person) -> dict[int, np.ndarray]:
    """Seen keypoints as {MediaPipe index: (x, y)}, from MediaPipe's 33 or COCO-17."""
    seen: dict[int, np.ndarray] = {}
    k = person.keypoints2d
    if k is not None and person.keypoint_format == "mediapipe33" and np.shape(k) == (33, 3):
        for m in list(_COCO_OF_MEDIAPIPE) + list(range(17, 23)) + list(range(29, 33)):
            if k[m, 2] >= KEYPOINT_SEEN and np.isfinite(k[m, :2]).all():
                seen[m] = np.asarray(k[m, :2], np.float64)
    coco = getattr(person, "keypoints_coco17", None)
    if coco is None and person.keypoint_format == "coco17":
        coco = k
    if coco is not None and np.shape(coco) == (17, 3):
        for m, c in _COCO_OF_MEDIAPIPE.items():
            if m not in seen and coco[c, 2] >= COCO_SEEN and np.isfinite(coco[c, :2]).all():
                seen[m] = np.asarray(coco[c, :2], np.float64)
    return seen


def extremities_mask(person, size: tuple[int, int]) -> np.ndarray:
    """Head, limbs, hands and feet drawn from the person's seen keypoints, sized by the
    body's own segments: what a segmenter's mask tends to miss. Empty without keypoints."""
    import cv2

    h, w = size
    canvas = np.zeros((h, w), np.uint8)
    kp = _keypoints_mp(person)
    box_h = float(person.box[3] - person.box[1])
    limit = max(box_h, 8.0) * 0.6  # a segment longer than this is a keypoint error

    def seg(a: int, b: int) -> float | None:
        if a in kp and b in kp:
            d = float(np.linalg.norm(kp[a] - kp[b]))
            return d if 0 < d <= limit else None
        return None

    def disc(centre: np.ndarray, radius: float) -> None:
        if radius >= 1:
            cv2.circle(canvas, (int(round(centre[0])), int(round(centre[1]))),
                       int(np.ceil(radius)), 1, -1)

    for a, b in ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26),
                 (26, 28), (11, 12), (23, 24), (11, 23), (12, 24)):
        length = seg(a, b)
        if length is not None:
            thick = max(int(np.ceil(LIMB_WIDTH * length)), 2)
            cv2.line(canvas, tuple(int(round(v)) for v in kp[a]),
                     tuple(int(round(v)) for v in kp[b]), 1, thick)
    for wrist, elbow, fingers in ((15, 13, (17, 19, 21)), (16, 14, (18, 20, 22))):
        forearm = seg(wrist, elbow)
        if forearm is None:
            continue
        centre = kp[wrist] + HAND_REACH * (kp[wrist] - kp[elbow])
        disc(centre, HAND_RADIUS * forearm)
        for f in fingers:  # MediaPipe's finger landmarks, when seen, widen the hand
            if f in kp and np.linalg.norm(kp[f] - kp[wrist]) <= forearm:
                disc(kp[f], 0.25 * forearm)
    for ankle, knee, foot in ((27, 25, (29, 31)), (28, 26, (30, 32))):
        shin = seg(ankle, knee)
        if shin is None:
            continue
        pts = [kp[ankle]] + [kp[f] for f in foot if f in kp]
        disc(np.mean(pts, axis=0), FOOT_RADIUS * shin)
    head = [kp[m] for m in (0, 2, 5, 7, 8) if m in kp]
    shoulders = seg(11, 12)
    torso = None
    if all(m in kp for m in (11, 12, 23, 24)):
        torso = float(np.linalg.norm(kp[11] + kp[12] - kp[23] - kp[24]) / 2)
    if head and (shoulders is not None or torso is not None):
        # Seen side-on the shoulders look narrow: the torso keeps the disc head-sized.
        radius = max(HEAD_RADIUS * (shoulders or 0.0), HEAD_TORSO * (torso or 0.0))
        ears = seg(7, 8)
        if ears is not None:
            radius = max(radius, 0.9 * ears)
        centre = np.mean(head, axis=0) - np.array([0.0, HEAD_UP * radius])
        disc(centre, radius)
    return canvas.astype(bool)


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The tight ``x0, y0, x1, y1`` (exclusive) bounds of a mask, or None when it is empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def padded_bbox(mask: np.ndarray, pad: int) -> tuple[int, int, int, int] | None:
    """``mask_bbox`` grown by ``pad`` pixels on each side, clipped to the mask's frame."""
    box = mask_bbox(mask)
    if box is None:
        return None
    h, w = mask.shape
    return (max(box[0] - pad, 0), max(box[1] - pad, 0), min(box[2] + pad, w),
            min(box[3] + pad, h))


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a mask by ``pixels`` with an elliptical kernel.

    Only the mask's bounding box, padded by ``pixels``, can change: the dilation runs there
    (a person is a small part of a video frame; the whole frame cost ten times more)."""
    if pixels <= 0:
        return mask.copy()
    import cv2

    out = np.zeros(mask.shape, bool)
    box = padded_bbox(mask, pixels)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    view = mask[y0:y1, x0:x1].astype(np.uint8)
    if pixels <= DIRECT_DILATION:
        out[y0:y1, x0:x1] = cv2.dilate(view, kernel) > 0
    else:
        out[y0:y1, x0:x1] = _dilate_by_rows(view, kernel)
    return out


# Up to this radius OpenCV's own elliptical dilation is the fastest; its cost grows with the
# kernel's area, so a large radius goes row by row (a 2,000 px tall person in a 3.3 MP photo
# has a 60 px margin: 4.3 s in one call, 0.3 s by rows, the same pixels).
DIRECT_DILATION = 8


def _dilate_by_rows(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.dilate(mask, kernel) > 0`` for a symmetric kernel whose rows are centred runs (an
    ellipse): each row of the kernel is a horizontal dilation, shifted by its offset."""
    import cv2

    r = kernel.shape[0] // 2
    h = mask.shape[0]
    out = np.zeros(mask.shape, bool)
    by_width: dict[int, np.ndarray] = {}
    for dy in range(-r, r + 1):
        run = int(np.count_nonzero(kernel[dy + r]))
        if run == 0 or abs(dy) >= h:
            continue
        if run not in by_width:
            rows = cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1))
            by_width[run] = cv2.dilate(mask, rows) > 0
        grown = by_width[run]
        if dy >= 0:
            out[:h - dy] |= grown[dy:]
        else:
            out[-dy:] |= grown[:h + dy]
    return out


def fill_solid(image: np.ndarray, mask: np.ndarray, color=FAIL_CLOSED_COLOR) -> np.ndarray:
    """The fail-closed fill: every pixel of ``mask`` set to one colour (in place; returned)."""
    image[mask] = np.asarray(color, image.dtype)
    return image


# A person's mask misses what lies at its soft edge: hair, fingers, shoes, the blur of motion
# (issue 14; on a street clip, mask-out without this margin left 15 of 138 moving people
# mostly visible, their feet and legs outside the mask). Every method that changes whole
# people grows their masks by this share of the person's height, at least MIN_MARGIN px.
MARGIN_SHARE = 0.03
MIN_MARGIN = 6


def person_margin(mask: np.ndarray) -> int:
    """Pixels by which to grow a person's mask before changing it (see ``MARGIN_SHARE``)."""
    bounds = mask_bbox(mask)
    height = 0 if bounds is None else bounds[3] - bounds[1]
    return max(MIN_MARGIN, int(round(MARGIN_SHARE * height)))


def grown_person_mask(mask: np.ndarray) -> np.ndarray:
    """A person's mask grown by ``person_margin``: what a whole-person change covers."""
    return dilate(mask, person_margin(mask)) if mask.any() else mask
