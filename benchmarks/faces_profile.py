""".venv/bin/python benchmarks/faces_profile.py [--ablation] FOLDER [FOLDER ...]

Where the time of `anonymize --target faces --method blur` goes, per stage, in one process
(start-up excluded): decode, each face detector, fusion, blur, encode. Run on the folders
`benchmarks/faces.py` builds (or any folder of images). Milliseconds, median per image.

``--ablation`` times the face search alone under the issue-18 changes added one at a time
(shipped float CenterFace graph with spinning threads and YuNet at 1280 = before; prepared
float graph; int8 graph; no spinning; YuNet at full resolution; the two detectors side by
side in two threads = after), alternated image by
image in one process so load from elsewhere hits every variant alike; seconds per folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def stages(folders: list[Path], repeat: int) -> None:
    from understudy.io.images import encode_image, read_image
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
    from understudy.scene import Frame

    anonymizer = Anonymizer(AnonymizeOptions(method="blur",
                                             perception=PerceptionOptions(target="faces")))
    detector = anonymizer.perceiver.faces
    parts = getattr(detector, "detectors", [detector])
    for folder in folders:
        times: dict[str, list[float]] = {}
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        for path in paths:
            for _ in range(repeat):
                t = time.perf_counter
                t0 = t()
                picture = read_image(path)
                t1 = t()
                for part in parts:
                    s = t()
                    part(picture.rgb)
                    times.setdefault(type(part).__name__, []).append(t() - s)
                t2 = t()
                scene = anonymizer.perceiver.perceive(Frame(picture.rgb, path.name, 0))
                t3 = t()
                result = anonymizer.apply(scene)
                t4 = t()
                encode_image(picture, result.image)
                t5 = t()
                for key, value in (("decode", t1 - t0), ("perceive (all detectors)", t3 - t2),
                                   ("blur", t4 - t3), ("encode", t5 - t4),
                                   ("total", t1 - t0 + t5 - t2)):
                    times.setdefault(key, []).append(value)
        print(f"{folder} ({len(paths)} images)")
        for key, values in times.items():
            print(f"  {key:28s} {1000 * statistics.median(values):8.1f} ms median "
                  f"{1000 * statistics.fmean(values):8.1f} ms mean")


def _shipped_session(spinning: bool):
    """CenterFace as run before issue 18: the shipped graph, only its input dims made
    dynamic, weights left among the graph inputs."""
    import onnx
    import onnxruntime as ort
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    from understudy.perception.faces import default_model_path

    model = onnx.load(str(default_model_path()))
    name = model.graph.input[0].name
    outputs = [o.name for o in model.graph.output]
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    dims[name] = ["B", 3, "H", "W"]
    model = update_inputs_outputs_dims(
        model, dims, {n: ["B", c, "h", "w"] for n, c in zip(outputs, (1, 2, 2, 10))})
    return _session(model.SerializeToString(), spinning)


def _session(model, spinning: bool):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_mem_pattern = False
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def ablation(folders: list[Path], repeat: int) -> None:
    from PIL import Image

    from understudy.perception.centerface_model import INT8_THRESHOLD, prepared_model
    from understudy.perception.faces import (CenterFaceDetector, FaceDetectorOptions,
                                             default_model_path)
    from understudy.perception.yunet import FusedFaces, YuNetFaces, YuNetOptions

    def centerface(session, threshold: float = 0.2) -> CenterFaceDetector:
        detector = CenterFaceDetector(FaceDetectorOptions(max_side=800, threshold=threshold))
        detector.session = session  # same decoding, another graph or session setting
        detector._input = session.get_inputs()[0].name
        detector._outputs = [o.name for o in session.get_outputs()]
        return detector

    source = default_model_path()
    prepared = {p: str(prepared_model(source, p)) for p in ("float", "int8")}
    yunet_1280, yunet_full = YuNetFaces(YuNetOptions(max_side=1280)), YuNetFaces(YuNetOptions(max_side=0))
    variants = {
        "before (shipped float, spinning, YuNet 1280)":
            FusedFaces([centerface(_shipped_session(True)), yunet_1280]),
        "+ prepared float graph": FusedFaces([centerface(_session(prepared["float"], True)),
                                              yunet_1280]),
        "+ int8 graph": FusedFaces([centerface(_session(prepared["int8"], True), INT8_THRESHOLD),
                                    yunet_1280]),
        "+ no spinning": FusedFaces([centerface(_session(prepared["int8"], False), INT8_THRESHOLD),
                                     yunet_1280]),
        "+ YuNet full resolution":
            FusedFaces([centerface(_session(prepared["int8"], False), INT8_THRESHOLD), yunet_full]),
        "+ side by side in two threads (after)":
            FusedFaces([yunet_full, centerface(_session(prepared["int8"], False), INT8_THRESHOLD)],
                       parallel=True),
    }
    for folder in folders:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        seconds = {name: 0.0 for name in variants}
        faces = {name: 0 for name in variants}
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"))
            for detector in variants.values():
                detector(image)  # warm up this input size
            for name, detector in variants.items():
                runs = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    found = detector(image)
                    runs.append(time.perf_counter() - started)
                seconds[name] += min(runs)
                faces[name] += len(found)
        print(f"{folder} ({len(paths)} images): face search, best of {repeat}, summed")
        first = seconds[next(iter(variants))]
        for name in variants:
            print(f"  {name:46s} {seconds[name]:7.2f} s  {first / seconds[name]:5.2f}x  "
                  f"{faces[name]:3d} faces")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ablation", action="store_true")
    args = parser.parse_args()
    (ablation if args.ablation else stages)(args.folders, args.repeat)


if __name__ == "__main__":
    main()
