"""The residual-person guard: person pixels that no handled person covers are someone we missed.

Every box detector measured here misses people badly cut by the image edge, and some people
seen from behind or half hidden. A whole-frame person segmentation (MediaPipe selfie
segmentation: no instances, but it sees any body part) does not care about boxes: its person
pixels outside every handled person's (dilated) mask, above a size floor, are a missed person.
Small rims next to one handled person are that person's own limb or hair the mask missed and
join their mask instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.errors import UsageError


@dataclass
class ResidualOptions:
    threshold: float = 0.5  # segmentation probability above which a pixel is a person's
    # A leftover must cover this share of the frame (and min_area pixels) to be a person:
    # 0.15 % is a 30x22 px blob in 768x576, about a head and shoulders at the edge; smaller
    # leftovers were segmentation noise on the photos measured here.
    min_area_share: float = 0.0015
    min_area: int = 300
    # Handled masks grow by this share of the frame's diagonal first: segmentation and pose
    # masks disagree by a few pixels along every outline.
    margin_share: float = 0.01
    # A leftover touching exactly one handled person and smaller than this share of their
    # mask is part of them (a hand, hair), not another person.
    attach_share: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"residual threshold must be in (0, 1), got {self.threshold}")
        if not 0 <= self.min_area_share < 1:
            raise UsageError(f"residual min_area_share must be in [0, 1), "
                             f"got {self.min_area_share}")
        if not 0 <= self.margin_share < 0.2:
            raise UsageError(f"residual margin_share must be in [0, 0.2), got {self.margin_share}")


@dataclass
class Leftover:
    """One connected blob of person pixels no handled person covers."""

    mask: np.ndarray  # (H, W) bool
    owner: int | None  # index of the handled person it belongs to, or None: a missed person

    @property
    def box(self) -> np.ndarray:
        ys, xs = np.nonzero(self.mask)
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def find_leftovers(probability: np.ndarray, handled: list[np.ndarray | None],
                   options: ResidualOptions | None = None) -> list[Leftover]:
    """Blobs of ``probability > threshold`` outside every mask in ``handled`` (``(H, W) bool``
    each; ``None`` entries are skipped), biggest first."""
    import cv2

    o = options or ResidualOptions()
    h, w = probability.shape
    person = probability > o.threshold
    if not person.any():
        return []
    radius = max(1, int(round(o.margin_share * float(np.hypot(h, w)))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = []
    covered = np.zeros((h, w), np.uint8)
    for m in handled:
        if m is None or not m.any():
            grown.append(None)
            continue
        g = cv2.dilate(m.astype(np.uint8), kernel)
        grown.append(g.astype(bool))
        covered |= g
    left = person & ~covered.astype(bool)
    # An opening removes the thin rims where two masks disagree along an outline.
    left = cv2.morphologyEx(left.astype(np.uint8), cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(left, connectivity=8)
    floor = max(o.min_area, o.min_area_share * h * w)
    out = []
    # Touching a handled person: the blob reaches into their grown mask one ring further out.
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for label in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1:
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < floor:
            break
        blob = labels == label
        near = cv2.dilate(blob.astype(np.uint8), ring).astype(bool)
        touching = [i for i, g in enumerate(grown) if g is not None and (near & g).any()]
        owner = None
        if len(touching) == 1:
            own = handled[touching[0]]
            if area < o.attach_share * int(own.sum()):
                owner = touching[0]
        out.append(Leftover(blob, owner))
    return out
