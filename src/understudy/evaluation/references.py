"""Identity-free references: what a body attacker scores on outputs that hold nobody.

A body attacker that compares a person's box in the output with the boxes of the originals
reads two things besides identity: the surroundings inside the box (the same wall, the same
court) and the person's outline (a stand-in keeps the pose on purpose). Mask-out's black
figure hides both from a colour histogram, so "as private as mask-out" is out of reach for
any method that keeps the scene and the pose, even one that keeps nothing of the person.
These references measure that part: each original is rebuilt with every person removed and
filled from their surroundings, then

* ``surroundings``: nothing more (what any in-place replacement keeps);
* ``grey figure``: a flat grey figure in each person's silhouette (the pose and the place);
* ``colour figure``: the same figure in two flat clothing colours drawn at random (seeded
  by the image and the person): a stand-in that carries no identity by construction.

An attacker's R@1 on these is its floor for pose-keeping methods: R@1 above the highest of
them is what a method's stand-ins give away of the people themselves.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from understudy.evaluation.coverage import _clip

REFERENCES = ("surroundings", "grey figure", "colour figure")
VERSION = "1"  # bump when the references change
GREY = (128, 128, 128)
# Clothing colours of everyday garments (RGB): the colour figure's top and bottom.
CLOTHING = ((40, 40, 45), (235, 235, 230), (30, 50, 110), (120, 30, 35), (40, 90, 50),
            (150, 120, 80), (90, 90, 95), (70, 110, 160), (180, 150, 40), (100, 60, 120))
FILL_RADIUS = 5  # Telea's neighbourhood, px
# The removed region grows by this share of the person's height: segmentation outlines
# keep a rim of the person that would otherwise be smeared into the fill.
GROW_SHARE = 0.03
TOP_SHARE = 0.55  # the top garment's share of the figure's height


def person_masks(size: tuple[int, int], boxes: list, masks: list[np.ndarray]) -> list[np.ndarray]:
    """Each person's box-sized mask (``coverage.PersonPixels``) placed in a full-size mask."""
    out = []
    for box, mask in zip(boxes, masks):
        full = np.zeros(size, bool)
        x0, y0, x1, y1 = _clip(box, size)
        if mask.shape == (y1 - y0, x1 - x0):
            full[y0:y1, x0:x1] = mask
        out.append(full)
    return out


def surroundings(image: np.ndarray, people: list[np.ndarray], boxes: list) -> np.ndarray:
    """``image`` with every person's pixels (grown a little) filled from outside them."""
    hole = np.zeros(image.shape[:2], np.uint8)
    for mask, box in zip(people, boxes):
        grow = max(1, int(round(GROW_SHARE * (box[3] - box[1]))))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole |= cv2.dilate(mask.astype(np.uint8), kernel)
    if not hole.any():
        return image.copy()
    return cv2.inpaint(np.ascontiguousarray(image), hole, FILL_RADIUS, cv2.INPAINT_TELEA)


def _figure_colours(digest: str, index: int, seed: int) -> tuple[tuple, tuple]:
    key = hashlib.sha256(f"{seed}:{digest}:{index}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
    top, bottom = rng.choice(len(CLOTHING), size=2, replace=False)
    return CLOTHING[top], CLOTHING[bottom]


def reference_images(image: np.ndarray, boxes: list, masks: list[np.ndarray], digest: str,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """The three identity-free references of one original (RGB uint8, analysis size)."""
    people = person_masks(image.shape[:2], boxes, masks)
    empty = surroundings(image, people, boxes)
    grey, colour = empty.copy(), empty.copy()
    for i, mask in enumerate(people):
        ys = np.nonzero(mask.any(axis=1))[0]
        if ys.size == 0:
            continue
        grey[mask] = GREY
        split = int(ys[0] + TOP_SHARE * (ys[-1] + 1 - ys[0]))
        top, bottom = _figure_colours(digest, i, seed)
        upper = mask.copy()
        upper[split:] = False
        colour[upper] = top
        colour[mask & ~upper] = bottom
    return {"surroundings": empty, "grey figure": grey, "colour figure": colour}
