"""The per-person spatial encoding that feeds the T2I-Adapter.

One ``(C, H, W) float32`` map for the whole image, ``C = 40 + 5 + 1``:

* channels 0-39: each person's CelebA attribute vector (+1/-1, 0 unknown), written into every
  pixel of that person's region and nowhere else;
* channels 40-44: the 5 facial keypoints (eyes, nose, mouth corners), each a Gaussian blob
  whose width follows the face size, also clipped to the owner's region;
* channel 45: occupancy, 1 inside any person's region (it tells "unknown attributes" apart
  from "no person here").

Why spatial: a single attribute vector per image cannot say *who* wears the glasses when
two people stand side by side. Regions may overlap (one head in front of another); every
pixel then belongs to one owner only, the person whose face centre is nearest in units of
face size, so features of different people never mix in one pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.diffusion.adapters.celeba import NUM_ATTRIBUTES

NUM_KEYPOINTS = 5
KEYPOINT_CHANNEL = NUM_ATTRIBUTES
OCCUPANCY_CHANNEL = NUM_ATTRIBUTES + NUM_KEYPOINTS
CHANNELS = NUM_ATTRIBUTES + NUM_KEYPOINTS + 1
# Keypoint blob sigma as a fraction of the face box's larger side: ~0.06 keeps the two eyes
# apart at any face size (the inter-eye distance is ~0.4 of a face box).
KEYPOINT_SIGMA = 0.06


@dataclass
class PersonCondition:
    """What the encoding knows about one person, in the coordinates of the map to draw.

    ``region``: ``(H, W) bool`` pixels that belong to the person (head ellipse for faces);
    ``attributes``: ``(40,)`` in ``[-1, 1]``; ``landmarks``: ``(5, 2)`` x, y or None;
    ``box``: the face (or person) box ``x0, y0, x1, y1`` that sets the keypoint blob size.
    """

    region: np.ndarray
    attributes: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.region.ndim != 2 or self.region.dtype != bool:
            raise ValueError(f"region must be (H, W) bool, got {self.region.shape} {self.region.dtype}")
        if self.attributes.shape != (NUM_ATTRIBUTES,):
            raise ValueError(f"attributes must be ({NUM_ATTRIBUTES},), got {self.attributes.shape}")
        if self.landmarks is not None and self.landmarks.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(f"landmarks must be ({NUM_KEYPOINTS}, 2), got {self.landmarks.shape}")

    @property
    def centre(self) -> np.ndarray:
        x0, y0, x1, y1 = [float(v) for v in self.box]
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def extent(self) -> float:
        x0, y0, x1, y1 = [float(v) for v in self.box]
        return max(x1 - x0, y1 - y0, 1.0)


def ownership(size: tuple[int, int], people: list[PersonCondition]) -> np.ndarray:
    """``(H, W) int`` index of the person owning each pixel, -1 where nobody is."""
    h, w = size
    owner = np.full((h, w), -1, np.int64)
    if not people:
        return owner
    best = np.full((h, w), np.inf)
    ys, xs = np.mgrid[0:h, 0:w]
    for i, person in enumerate(people):
        if person.region.shape != (h, w):
            raise ValueError(f"person {i}: region {person.region.shape} does not match map {size}")
        cx, cy = person.centre
        dist = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) / person.extent
        take = person.region & (dist < best)
        owner[take] = i
        best[take] = dist[take]
    return owner


def encode_people(size: tuple[int, int], people: list[PersonCondition]) -> np.ndarray:
    """The ``(CHANNELS, H, W) float32`` map for ``people`` on an image of ``size`` = (H, W)."""
    h, w = size
    out = np.zeros((CHANNELS, h, w), np.float32)
    owner = ownership(size, people)
    ys, xs = np.mgrid[0:h, 0:w]
    for i, person in enumerate(people):
        mine = owner == i
        if not mine.any():
            continue
        out[:NUM_ATTRIBUTES, mine] = person.attributes[:, None]
        out[OCCUPANCY_CHANNEL, mine] = 1.0
        if person.landmarks is None:
            continue
        sigma = KEYPOINT_SIGMA * person.extent
        for k, (x, y) in enumerate(person.landmarks):
            blob = np.exp(-((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2) / (2 * sigma ** 2))
            channel = out[KEYPOINT_CHANNEL + k]
            channel[mine] = np.maximum(channel[mine], blob[mine].astype(np.float32))
    return out


def crop_condition(person: PersonCondition, crop: tuple[int, int, int, int],
                   out_size: tuple[int, int]) -> PersonCondition:
    """``person`` seen through the crop ``x0, y0, x1, y1`` resized to ``out_size`` = (H, W):
    the region is resampled (nearest), box and landmarks are moved and scaled."""
    import cv2

    x0, y0, x1, y1 = crop
    oh, ow = out_size
    sx, sy = ow / max(x1 - x0, 1), oh / max(y1 - y0, 1)
    region = cv2.resize(person.region[y0:y1, x0:x1].astype(np.uint8), (ow, oh),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    scale = np.array([sx, sy, sx, sy], np.float32)
    box = (np.asarray(person.box, np.float32) - np.array([x0, y0, x0, y0], np.float32)) * scale
    landmarks = None
    if person.landmarks is not None:
        landmarks = ((person.landmarks - np.array([x0, y0], np.float32))
                     * np.array([sx, sy], np.float32)).astype(np.float32)
    return PersonCondition(region, person.attributes, box.astype(np.float32), landmarks)
