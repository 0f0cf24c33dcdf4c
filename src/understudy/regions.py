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


def int_box(box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The pixel slice bounds that cover a float box, clipped to the image."""
    x0, y0, x1, y1 = clip_box(box, size)
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


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
    """The pixels to anonymize for one person: the instance mask, or the box if there is none.

    The person's faces are added too: a segmenter can miss hair or a face at the mask's edge.
    """
    if person.mask is not None and person.mask.any():
        mask = person.mask.astype(bool, copy=True)
    else:
        mask = box_mask(person.box, size)
    for face in person.faces:
        mask |= face_region_mask(face.box, size)
    return mask


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The tight ``x0, y0, x1, y1`` (exclusive) bounds of a mask, or None when it is empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a mask by ``pixels`` with an elliptical kernel."""
    if pixels <= 0:
        return mask.copy()
    import cv2

    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def fill_solid(image: np.ndarray, mask: np.ndarray, color=FAIL_CLOSED_COLOR) -> np.ndarray:
    """The fail-closed fill: every pixel of ``mask`` set to one colour (in place; returned)."""
    image[mask] = np.asarray(color, image.dtype)
    return image
