"""Fixtures of the evaluation tests: real group photos and anonymized versions of them made
by calling the baselines directly (CenterFace → method → fail-closed guard).

The photos come from ``tests/photos.py`` (face_recognition 1.3.0's test photos of two
people, fetched with pip at test time, and scikit-image's public-domain astronaut), pasted
side by side so that every image shows two different people.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from photos import face_recognition_dir

METHODS = {"blur-weak": ("blur", {"sigma": 3.0}), "blur": ("blur", {}),
           "maskout": ("maskout", {})}


def save(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _load(path: Path, height: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w = round(img.width * height / img.height)
        return np.asarray(img.resize((w, height), Image.Resampling.LANCZOS))


def _astronaut(height: int) -> np.ndarray:
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((height, height),
                                                               Image.Resampling.LANCZOS))


def group_photos(photos: Path, height: int = 480) -> dict[str, np.ndarray]:
    """Three images with two different people each (4 identities, 6 faces)."""

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([a, b], axis=1))

    return {
        "group1.png": pair(_load(photos / "biden.jpg", height), _load(photos / "obama.jpg", height)),
        # obama2 shows a sliver of another person at its right edge whom CenterFace misses
        # (so no method hides them): cut it off.
        "group2.png": pair(_load(photos / "obama2.jpg", height)[:, : int(0.75 * height * 626 / 1200)],
                           _astronaut(height)),
        "sub/group3.png": pair(_astronaut(height)[:, ::-1], _load(photos / "obama3.jpg", height)),
    }


@pytest.fixture(scope="session")
def photo_dir() -> Path:
    return face_recognition_dir()


@pytest.fixture(scope="session")
def dataset(photo_dir, tmp_path_factory) -> dict[str, Path]:
    """``{"original": DIR, "blur-weak": DIR, "blur": DIR, "maskout": DIR}``, each anonymized
    folder with an ``audit.jsonl`` in the shape ``understudy anonymize`` writes."""
    from understudy.run.guard import run_guarded
    from understudy.methods.registry import load_method
    from understudy.perception.faces import CenterFaceDetector
    from understudy.scene import Frame, Scene

    images = group_photos(photo_dir)
    root = tmp_path_factory.mktemp("evaluation-data")
    detector = CenterFaceDetector()
    for rel, img in images.items():
        save(root / "original" / rel, img)
    for name, (method_name, options) in METHODS.items():
        method = load_method(method_name, **options)
        rows = []
        for rel, img in images.items():
            start = time.perf_counter()
            scene = Scene(Frame(img, source=rel), faces=detector(img), target="faces")
            result = run_guarded(method, scene, np.random.default_rng(0))
            out = root / name / rel
            save(out, result.image)
            rows.append({"source": str(root / "original" / rel), "output": str(out), "status": "ok",
                         "error": None, "method": method_name,
                         "seconds": round(time.perf_counter() - start, 4),
                         "regions": [r.to_json() for r in result.regions]})
        (root / name / "audit.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return {"original": root / "original", **{n: root / n for n in METHODS}}
