"""Render posed, dressed bodies offscreen with pyrender: one RGBA layer and depth per body.

pyrender needs two things set before it is imported, done in ``import_pyrender`` (never at
import of understudy): ``PYOPENGL_PLATFORM=egl`` for a headless OpenGL context (Debian's
``libegl1 libegl-mesa0 libgl1-mesa-dri``; Mesa's llvmpipe draws 512 px in ~30 ms on a CPU),
and ``np.infty``, which numpy 2 removed and pyrender 0.1.45 still reads for bounds.

Cameras follow OpenGL (looking down -Z, +Y up); our bodies are in OpenCV camera
coordinates (x right, y down, z forward), which map with (x, -y, -z) under an identity
camera pose: a rotation, so triangle winding and normals stay right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from understudy.errors import MissingDependency

INSTALL_HINT = "pip install 'understudy[avatar]' and Debian's libegl1 libegl-mesa0 libgl1-mesa-dri"
_CV_TO_GL = np.diag([1.0, -1.0, -1.0]).astype(np.float32)


def import_pyrender() -> Any:
    """pyrender, with the EGL platform chosen (unless the user chose one) and numpy 2 shimmed."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # pyrender 0.1.45 on numpy 2
    try:
        import pyrender
        import trimesh  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("pyrender (for RefSD avatars)", INSTALL_HINT) from exc
    return pyrender


@dataclass
class Light:
    """Scene light for one render: ambient and a key light from above the camera."""

    ambient: tuple[float, float, float] = (0.35, 0.35, 0.35)
    key_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    key_intensity: float = 2.5


@dataclass
class Layer:
    """One body drawn over a crop: colour, soft alpha in [0, 1] and metric depth (0 = empty)."""

    rgb: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w) float32
    depth: np.ndarray  # (h, w) float32


@dataclass
class Camera:
    focal: float
    cx: float
    cy: float


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (V, 3), unit length."""
    p0, p1, p2 = (vertices[faces[:, k]].astype(np.float64) for k in range(3))
    a, b = p1 - p0, p2 - p0
    face_n = (a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
              a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    # Each face's normal summed into its three corners: bincount takes ~1/3 of the time of
    # ``np.add.at`` on anny's 27k faces (computed twice per person-frame in video).
    n = len(vertices)
    normals = np.stack([sum(np.bincount(faces[:, k], c, n) for k in range(3)) for c in face_n],
                       axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    return normals.astype(vertices.dtype)


class Renderer:
    """Draw meshes into crops of an image. Keeps one OpenGL context; ``close()`` frees it."""

    def __init__(self) -> None:
        self._pyrender = import_pyrender()
        self._renderer = None
        self._size = (0, 0)

    def _offscreen(self, width: int, height: int) -> Any:
        # One GL context for the renderer's life (creating one costs ~0.25 s); a new crop
        # size only resizes the framebuffer.
        if self._renderer is None:
            self._renderer = self._pyrender.OffscreenRenderer(width, height)
        elif self._size != (width, height):
            self._renderer.viewport_width = width
            self._renderer.viewport_height = height
        self._size = (width, height)
        return self._renderer

    def render(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
               camera: Camera, crop: tuple[int, int, int, int], light: Light) -> Layer:
        """Draw one mesh (camera-frame ``vertices`` (V, 3), ``faces`` (F, 3), per-vertex
        ``colors`` (V, 3) uint8) into the image crop ``x0, y0, x1, y1``."""
        pr = self._pyrender
        x0, y0, x1, y1 = crop
        width, height = x1 - x0, y1 - y0
        verts_gl = (vertices @ _CV_TO_GL.T).astype(np.float32)
        normals = vertex_normals(verts_gl, faces).astype(np.float32)
        rgba = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], axis=1)
        # A primitive built by hand: pyrender's from_trimesh drops vertex colours as soon as a
        # material is given, and its default material is slightly metallic (plastic skin).
        material = pr.MetallicRoughnessMaterial(metallicFactor=0.0, roughnessFactor=0.85,
                                                baseColorFactor=(1.0, 1.0, 1.0, 1.0))
        primitive = pr.Primitive(positions=verts_gl, normals=normals,
                                 color_0=rgba.astype(np.float32) / 255.0,
                                 indices=faces.astype(np.uint32), material=material, mode=4)
        scene = pr.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=light.ambient)
        scene.add(pr.Mesh([primitive]))
        cam = pr.IntrinsicsCamera(camera.focal, camera.focal, camera.cx - x0, camera.cy - y0,
                                  znear=0.05, zfar=1000.0)
        scene.add(cam, pose=np.eye(4))
        # Key light from above and slightly left of the camera, the way most photos are lit.
        key = np.eye(4)
        key[:3, :3] = _rotation_towards(np.array([0.25, -0.6, -1.0]))
        scene.add(pr.DirectionalLight(color=light.key_color, intensity=light.key_intensity),
                  pose=key)
        renderer = self._offscreen(width, height)
        color, depth = renderer.render(scene, flags=pr.RenderFlags.RGBA)
        return Layer(np.ascontiguousarray(color[..., :3]),
                     color[..., 3].astype(np.float32) / 255.0, depth.astype(np.float32))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rotation_towards(direction: np.ndarray) -> np.ndarray:
    """A rotation whose -Z axis (a pyrender light's direction) points along ``direction``
    (OpenGL camera frame)."""
    z = -direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)
