"""From a detected face to what both adapters read: the encoder's crop and the map entry.

Shared by training (dataset faces) and inference (``Scene`` faces), so that the adapters see
the same kind of crop and region in both.
"""

from __future__ import annotations

import numpy as np

from understudy.diffusion.adapters.encoding import PersonCondition
from understudy.regions import face_region_mask, head_box, int_box

# The encoder sees the whole head (hair and ears carry appearance too), squared so that
# CLIP's square resize does not stretch it.
CROP_SCALE = (1.5, 1.7)


def encoder_crop_box(face_box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The square head crop ``x0, y0, x1, y1`` for the image encoder, clipped to the image."""
    x0, y0, x1, y1 = [float(v) for v in head_box(face_box, CROP_SCALE)]
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return int_box(np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]), size)


def encoder_crop(image: np.ndarray, face_box: np.ndarray) -> np.ndarray:
    """The ``(h, w, 3) uint8`` pixels the image encoder embeds for one face."""
    x0, y0, x1, y1 = encoder_crop_box(face_box, image.shape[:2])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((2, 2, 3), np.uint8)
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def face_condition(face_box: np.ndarray, landmarks: np.ndarray | None, attributes: np.ndarray,
                   size: tuple[int, int], region: np.ndarray | None = None) -> PersonCondition:
    """One person's entry in the spatial map: their head region (or ``region``), attributes
    and keypoints, on an image of ``size`` = (H, W)."""
    mask = face_region_mask(face_box, size) if region is None else region.astype(bool)
    lms = None if landmarks is None else np.asarray(landmarks, np.float32).reshape(5, 2)
    return PersonCondition(mask, np.asarray(attributes, np.float32),
                           np.asarray(face_box, np.float32), lms)
