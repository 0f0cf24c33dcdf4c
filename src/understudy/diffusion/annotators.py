"""Annotators: turn a scene into the spatial control maps ControlNets were trained on.

Each map is ``(H, W, 3) uint8`` RGB at the frame's size, drawn in the convention of the
public ControlNet 1.1 checkpoints, so that a user's downloaded ControlNet reads it right:

* ``pose``: the OpenPose body skeleton (18 points, coloured limbs on black) drawn from our
  keypoints: MediaPipe's 33 landmarks or COCO's 17 are mapped to OpenPose's 18 (the neck
  is the shoulders' midpoint). Nothing is re-detected, so the pose is exactly the one
  perception found, and people perception missed get no skeleton.
* ``canny``: Canny edges (thresholds 100/200 as in the ControlNet annotator), white on black.
* ``segmentation``: people in ADE20K's "person" colour (150, 5, 61) on black: our masks are
  the only classes we know, and the seg ControlNet was trained on ADE20K colours.
* ``depth`` (needs a user-given depth model: ``depth_model``, any transformers
  depth-estimation checkpoint such as ``depth-anything/Depth-Anything-V2-Small-hf``):
  relative inverse depth, near = bright, as MiDaS maps are.
* ``normal``: surface normals from that depth's gradients (ControlNet 1.0's trick), so it
  needs ``depth_model`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from understudy.errors import UsageError
from understudy.scene import Person, Scene

# OpenPose-18 index -> source keypoint index, or a pair whose midpoint it is.
OPENPOSE_FROM = {
    "mediapipe33": [0, (11, 12), 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7],
    "coco17": [0, (5, 6), 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3],
}
# OpenPose's limbs (1-based pairs, as in the reference drawing code) and its 18 colours.
OPENPOSE_LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11),
                  (2, 12), (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
OPENPOSE_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
                   (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
                   (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255), (170, 0, 255),
                   (255, 0, 255), (255, 0, 170), (255, 0, 85))
ADE20K_PERSON = (150, 5, 61)
MIN_VISIBILITY = 0.3  # MediaPipe invents occluded limbs with low visibility; don't draw them
CANNY_THRESHOLDS = (100, 200)


def openpose18(person: Person) -> np.ndarray:
    """A person's keypoints as OpenPose's 18 ``(x, y, visibility)`` rows (visibility 0 where
    unknown)."""
    out = np.zeros((18, 3), np.float32)
    kp = person.keypoints2d
    table = OPENPOSE_FROM.get(person.keypoint_format)
    if kp is None or table is None:
        return out
    for i, src in enumerate(table):
        if isinstance(src, tuple):
            a, b = kp[src[0]], kp[src[1]]
            out[i] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, min(a[2], b[2])]
        elif src < len(kp):
            out[i] = kp[src]
    return out


def draw_pose(scene: Scene) -> np.ndarray:
    """The OpenPose skeleton of every person, limbs 60 % opaque over black as in the
    reference drawing; stick width scales with the image (4 px at 512 px)."""
    h, w = scene.frame.size
    canvas = np.zeros((h, w, 3), np.uint8)
    stick = max(1, round(4 * max(h, w) / 512))
    for person in scene.people:
        pts = openpose18(person)
        for k, (a, b) in enumerate(OPENPOSE_LIMBS):
            pa, pb = pts[a - 1], pts[b - 1]
            if min(pa[2], pb[2]) < MIN_VISIBILITY:
                continue
            limb = canvas.copy()
            mx, my = (pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2
            length = float(np.hypot(pa[0] - pb[0], pa[1] - pb[1]))
            angle = float(np.degrees(np.arctan2(pb[1] - pa[1], pb[0] - pa[0])))
            poly = cv2.ellipse2Poly((int(mx), int(my)), (int(length / 2), stick), int(angle),
                                    0, 360, 1)
            cv2.fillConvexPoly(limb, poly, OPENPOSE_COLORS[k])
            canvas = cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)
        for k, (x, y, v) in enumerate(pts):
            if v >= MIN_VISIBILITY:
                cv2.circle(canvas, (int(x), int(y)), stick, OPENPOSE_COLORS[k], thickness=-1)
    return canvas


def draw_canny(scene: Scene) -> np.ndarray:
    gray = cv2.cvtColor(scene.image, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, *CANNY_THRESHOLDS)
    return np.repeat(edges[:, :, None], 3, axis=2)


def draw_segmentation(scene: Scene) -> np.ndarray:
    from understudy.regions import person_region_mask

    h, w = scene.frame.size
    canvas = np.zeros((h, w, 3), np.uint8)
    for person in scene.people:
        canvas[person_region_mask(person, (h, w))] = ADE20K_PERSON
    return canvas


def depth_to_normal(depth: np.ndarray, background: float = 0.1) -> np.ndarray:
    """Normals from a near-bright depth map: x/y from Sobel gradients, z constant; far
    pixels (below ``background`` of the range) get the flat normal, as ControlNet 1.0 did."""
    d = depth.astype(np.float32) / 255.0
    gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3)
    gx[d < background] = 0
    gy[d < background] = 0
    z = np.full_like(d, 0.5 * np.pi / 8)  # the flat-surface weight of the reference code
    n = np.stack([-gx, gy, z], axis=2)
    n /= np.linalg.norm(n, axis=2, keepdims=True) + 1e-8
    return ((n * 0.5 + 0.5) * 255).clip(0, 255).astype(np.uint8)


@dataclass
class DepthEstimator:
    """A transformers depth-estimation model from a hub id or a local folder."""

    model: str
    device: str = "cpu"
    _pipe: Any = field(default=None, repr=False)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` -> ``(H, W) uint8``, near = bright."""
        if self._pipe is None:
            from pathlib import Path

            from transformers import pipeline

            from understudy.diffusion.loading import resolve_source

            source = resolve_source(self.model, "depth_model")
            try:
                # local_files_only as a pipeline argument: inside model_kwargs transformers 5
                # passes it twice to AutoConfig (a TypeError).
                self._pipe = pipeline("depth-estimation", model=self.model, device=self.device,
                                      local_files_only=source.local)
            except (OSError, ValueError, KeyError) as exc:
                first = str(exc).splitlines()[0][:200]
                where = "folder" if Path(self.model).exists() else "hub id"
                raise UsageError(f"depth_model {where} {self.model!r} could not be loaded: "
                                 f"{first}") from exc
        from PIL import Image

        out = self._pipe(Image.fromarray(image))
        depth = np.asarray(out["predicted_depth"].squeeze().float().cpu().numpy(), np.float32)
        depth = cv2.resize(depth, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
        lo, hi = float(depth.min()), float(depth.max())
        return ((depth - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)


@dataclass
class Annotators:
    """``annotators(name, scene) -> (H, W, 3) uint8``; ``depth``/``normal`` need ``depth_model``."""

    depth_model: str | None = None
    device: str = "cpu"
    _depth: DepthEstimator | None = field(default=None, repr=False)

    def names(self) -> tuple[str, ...]:
        return tuple(ANNOTATORS)

    def __call__(self, name: str, scene: Scene) -> np.ndarray:
        if name not in ANNOTATORS:
            raise UsageError(f"annotator {name!r} is not known; allowed: {', '.join(ANNOTATORS)}")
        return ANNOTATORS[name](self, scene)

    def depth(self, scene: Scene) -> np.ndarray:
        if self.depth_model is None:
            raise UsageError("the depth and normal control maps need a depth model: set "
                             "depth_model to a transformers depth-estimation hub id or folder "
                             "(e.g. depth-anything/Depth-Anything-V2-Small-hf)")
        if self._depth is None:
            self._depth = DepthEstimator(self.depth_model, self.device)
        return self._depth(scene.image)


ANNOTATORS: dict[str, Callable[[Annotators, Scene], np.ndarray]] = {
    "pose": lambda a, s: draw_pose(s),
    "canny": lambda a, s: draw_canny(s),
    "segmentation": lambda a, s: draw_segmentation(s),
    "depth": lambda a, s: np.repeat(a.depth(s)[:, :, None], 3, axis=2),
    "normal": lambda a, s: depth_to_normal(a.depth(s)),
}
