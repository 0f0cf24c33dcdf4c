"""A clothing-colour re-identification attacker, for measuring what of a person survives
around a stand-in (issue 14): each person is described by the HSV histogram of their box;
an anonymized person (query) is matched against every original person (gallery), and a hit
at rank 1 means the colours around the stand-in still point to the original.

``understudy evaluate`` carries the full version; this helper keeps RefSD's tests and
measurements independent of it.
"""

from __future__ import annotations

import numpy as np

BINS = (16, 4, 4)  # hue, saturation, value: hue carries most of a garment's identity


def colour_histogram(image: np.ndarray, box) -> np.ndarray:
    """Normalised HSV histogram of ``image`` ((H, W, 3) uint8 RGB) inside ``box``."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = [int(round(float(v))) for v in box]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    crop = np.ascontiguousarray(image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)])
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256])
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def rank1(originals: list[tuple[np.ndarray, list]], anonymized: list[np.ndarray]) -> float:
    """Share of people whose anonymized box is closest (Bhattacharyya distance) to their own
    original box among every original person. ``originals``: one (image, boxes) per image;
    ``anonymized``: the outputs, same order."""
    found = matches(originals, anonymized)
    return sum(int(m == k) for k, m in enumerate(found)) / max(len(found), 1)


def matches(originals: list[tuple[np.ndarray, list]], anonymized: list[np.ndarray]) -> list[int]:
    """For each person (in ``rank1``'s order), the gallery index of their closest original."""
    import cv2

    gallery = [colour_histogram(img, b) for img, boxes in originals for b in boxes]
    queries = [colour_histogram(out, b) for (_, boxes), out in zip(originals, anonymized)
               for b in boxes]
    return [int(np.argmin([cv2.compareHist(q, g, cv2.HISTCMP_BHATTACHARYYA) for g in gallery]))
            for q in queries]
