"""Load the anny body model once, with its cache where understudy keeps its files.

anny builds its model data on first use (about 50 s and 790 MB on disk) and reads it back in
well under a second afterwards, so the cache folder must persist: by default
``~/.cache/understudy/anny``; a user may pass another folder or set ``ANNY_CACHE_DIR``
(read when the model is loaded, never at import).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from understudy.errors import MissingDependency

INSTALL_HINT = "pip install 'understudy[avatar]' (or bash scripts/install.sh)"

# MediaPipe Pose landmark -> index in anny's COCO-23 keypoint regressor (COCO-17 plus feet:
# big toes 17/18, small toes 19/20, heels 21/22). MediaPipe's "foot index" is the tip of the
# foot, closest to the big toe.
MP_TO_ANNY_COCO: dict[int, int] = {
    0: 0, 2: 1, 5: 2, 7: 3, 8: 4, 11: 5, 12: 6, 13: 7, 14: 8, 15: 9, 16: 10,
    23: 11, 24: 12, 25: 13, 26: 14, 27: 15, 28: 16, 29: 21, 30: 22, 31: 17, 32: 18,
}
MP_INDICES = np.array(sorted(MP_TO_ANNY_COCO), dtype=np.int64)
ANNY_INDICES = np.array([MP_TO_ANNY_COCO[i] for i in MP_INDICES], dtype=np.int64)

# From MediaPipe's world frame (x right, y down, z away from the camera) to anny's (Z up,
# facing -Y, subject's left +X): a rotation, not a mirror.
MP_TO_ANNY = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32)


def default_cache_dir() -> Path:
    """``ANNY_CACHE_DIR`` when set, else ``~/.cache/understudy/anny``."""
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "understudy" / "anny"


@dataclass
class BodyModel:
    """The anny model (float32, pure-torch skinning) with what the fit and the renderer need."""

    anny: Any
    regressor: Any
    faces: np.ndarray  # (F, 3) int64 triangles
    bone_labels: list[str]
    dominant_bone: np.ndarray  # (V,) index of the bone with the largest skinning weight
    hidden_faces: np.ndarray  # (F,) bool: eye and mouth cavities, tongue (never drawn)
    cache_dir: Path = field(default_factory=default_cache_dir)

    def bone(self, name: str) -> int:
        return self.bone_labels.index(name)


def load_body_model(cache_dir: str | Path | None = None) -> BodyModel:
    """Build (first time: ~50 s) or read the anny model. Costly: load once and share it."""
    try:
        import anny
        import torch
        from anny.paths import set_anny_cache_path
    except ImportError as exc:
        raise MissingDependency("the anny body model (for RefSD avatars)", INSTALL_HINT) from exc
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    set_anny_cache_path(folder)
    # "lbs" is pure torch: warp's kernels would warn about CUDA on every CPU-only machine.
    # phenotypes="all" adds the african/asian/caucasian blend that ethnicity sets.
    model = anny.Anny(skinning_method="lbs", phenotypes="all").to(torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    regressor = anny.KeypointsRegressor.coco(model)
    weights = model.vertex_bone_weights.detach().cpu().numpy()
    indices = model.vertex_bone_indices.detach().cpu().numpy()
    dominant = indices[np.arange(len(indices)), weights.argmax(axis=1)].astype(np.int64)
    return BodyModel(model, regressor, model.faces.detach().cpu().numpy().astype(np.int64),
                     list(model.bone_labels), dominant, _hidden_faces(model), folder)


def _hidden_faces(model: Any) -> np.ndarray:
    """Triangles inside the head (eye backs and cavities, mouth, tongue): drawn, they show as
    dark holes through the face."""
    try:
        from anny.face_segmentation import get_face_segmentation_mask

        mask = get_face_segmentation_mask(
            model, ["eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R",
                    "mouth_cavity", "tongue"])
        return mask.detach().cpu().numpy().astype(bool)
    except Exception:  # noqa: BLE001 - cosmetic only; draw everything if the data is missing
        return np.zeros(len(model.faces), bool)
