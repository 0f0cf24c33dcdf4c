"""Put rendered avatars into the inpainted photo: light matched to the scene, soft edges,
nearest person last, and nothing outside each person's allowed region.

* Light: the mean colour of the background ring around a person sets the render's ambient
  colour and strength (``estimate_light``); after rendering, the avatar's brightness is
  pulled part of the way (``MATCH_STRENGTH``) towards that of its surroundings
  (``match_light``), so an avatar is neither glowing in a dark room nor grey in the sun.
* Edges: the render's multisampled alpha, softened by ``EDGE_SIGMA`` px.
* Order: layers are drawn far to near (painter's order by the fitted pelvis depth), so the
  people in front stay in front.
* Bounds: every layer's alpha is multiplied by the person's allowed region (the dilated
  mask), so pixels outside every region are untouched.
"""

from __future__ import annotations

import numpy as np

from understudy.render.offscreen import Layer, Light

EDGE_SIGMA = 0.8
MATCH_STRENGTH = 0.5  # 0 keeps the render's brightness, 1 equals the surroundings'
GAIN_LIMITS = (0.6, 1.5)


def ring(mask: np.ndarray, width: int) -> np.ndarray:
    """The band of ``width`` px just outside ``mask``."""
    from understudy.regions import dilate

    return dilate(mask, width) & ~mask


def surroundings_colour(image: np.ndarray, around: np.ndarray) -> np.ndarray | None:
    """The mean RGB (0-255) of the pixels ``around`` a person (an (H, W) bool mask), or None
    when there are too few to say. In video, RefSD smooths it along the person's track."""
    if int(around.sum()) < 16:
        return None
    return image[around].astype(np.float32).mean(axis=0)


def light_for(colour: np.ndarray | None) -> Light:
    """A light for the render from the mean colour around a person (None: the default)."""
    if colour is None:
        return Light()
    mean = np.asarray(colour, np.float32) / 255.0
    level = float(mean.mean())
    tint = mean / max(level, 1e-3)
    tint = tuple(float(c) for c in np.clip(0.75 + 0.25 * tint, 0.6, 1.3))
    # Brighter scenes: more key light; dark scenes keep some ambient so the body reads.
    ambient = tuple(float(np.clip(0.18 + 0.35 * level, 0.15, 0.55) * c) for c in tint)
    return Light(ambient=ambient, key_color=tint, key_intensity=float(1.2 + 2.8 * level))


def estimate_light(image: np.ndarray, around: np.ndarray) -> Light:
    """A light for the render from the pixels ``around`` a person (an (H, W) bool mask)."""
    return light_for(surroundings_colour(image, around))


def luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def match_light(layer: Layer, surroundings: np.ndarray) -> Layer:
    """Scale the layer's colours so its mean luminance moves towards ``surroundings``
    ((N, 3) uint8 pixels around the person)."""
    if len(surroundings) < 16:
        return layer
    return match_light_to(layer, surroundings.astype(np.float32).mean(axis=0))


def match_light_to(layer: Layer, colour: np.ndarray | None) -> Layer:
    """``match_light`` for a mean surrounding colour (0-255; None leaves the layer)."""
    inside = layer.alpha > 0.5
    if colour is None or not inside.any():
        return layer
    own = float(luminance(layer.rgb[inside]).mean())
    target = float(luminance(np.asarray(colour, np.float32)))
    gain = (max(target, 1.0) / max(own, 1.0)) ** MATCH_STRENGTH
    gain = float(np.clip(gain, *GAIN_LIMITS))
    rgb = np.clip(layer.rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return Layer(rgb, layer.alpha, layer.depth)


def soften(alpha: np.ndarray, sigma: float = EDGE_SIGMA) -> np.ndarray:
    import cv2

    if sigma <= 0:
        return alpha
    return cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), sigma)


def composite(background: np.ndarray, layers: list[tuple[Layer, tuple[int, int, int, int],
                                                          np.ndarray, float]]) -> np.ndarray:
    """Draw ``(layer, crop, allowed, depth)`` entries over ``background`` far to near.

    ``crop`` is the layer's ``x0, y0, x1, y1`` in the image, ``allowed`` an (H, W) bool mask
    outside which the layer may not draw. Returns a new (H, W, 3) uint8 image.
    """
    out = background.astype(np.float32)
    for layer, crop, allowed, _ in sorted(layers, key=lambda item: -item[3]):
        x0, y0, x1, y1 = crop
        alpha = soften(layer.alpha) * allowed[y0:y1, x0:x1]
        region = out[y0:y1, x0:x1]
        region[:] = region * (1 - alpha[..., None]) + layer.rgb.astype(np.float32) * alpha[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
