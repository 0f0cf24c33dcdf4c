"""Real photos of people for tests, loaded at test time and never committed.

* ``astronaut``: scikit-image's ``astronaut.png`` (Eileen Collins, NASA, public domain).
* the face_recognition 1.3.0 source package (MIT code; the photos' copyright varies, which is
  why they are fetched from PyPI with pip into ``~/.cache/understudy/test-photos`` rather than
  committed): Joe Biden and Barack Obama, one person per photo, two of them cut by the edge.
* montages: several of those photos side by side, for counts and face assignment with
  several people in one image.

Each function returns ``[(name, rgb uint8 (H, W, 3), people_count)]``; a test that needs the
download is skipped cleanly when PyPI cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

SDIST = "face_recognition-1.3.0.tar.gz"
PHOTO_DIR = "face_recognition-1.3.0/tests/test_images"
# Photo -> people fully or mostly in frame (obama2 also shows a sliver of someone at the edge,
# not counted).
FACE_RECOGNITION_PHOTOS = {"biden.jpg": 1, "obama.jpg": 1, "obama2.jpg": 1, "obama3.jpg": 1,
                           "obama_partial_face.jpg": 1, "obama_partial_face2.jpg": 1}
# ... and, not counted above, people cut by the photo's edge with no face in it: obama3's
# neighbour (a green sleeve at the right edge), whom the fused detectors find on a square
# tile of the tall photo, not on the whole of it.
EDGE_NEIGHBOURS = {"obama3.jpg": 1}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "understudy" / "test-photos"


def _read(path: Path, height: int | None = None) -> np.ndarray:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if height is not None and image.height != height:
        image = image.resize((round(image.width * height / image.height), height),
                             Image.Resampling.LANCZOS)
    return np.asarray(image)


def astronaut() -> list[tuple[str, np.ndarray, int]]:
    import skimage

    return [("astronaut", _read(Path(skimage.__file__).parent / "data" / "astronaut.png"), 1)]


def face_recognition_dir() -> Path:
    """The unpacked test photos of face_recognition 1.3.0 (downloaded once with pip)."""
    import pytest

    root = cache_dir()
    photos = root / PHOTO_DIR
    if all((photos / name).is_file() for name in FACE_RECOGNITION_PHOTOS):
        return photos
    root.mkdir(parents=True, exist_ok=True)
    sdist = root / SDIST
    if not sdist.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               "--no-build-isolation", "face-recognition==1.3.0", "-d", str(root)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"cannot download face_recognition 1.3.0 from PyPI: {exc}")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(PHOTO_DIR + "/") and m.isfile()]
        tar.extractall(root, members=members, filter="data")
    return photos


def face_recognition_photos(height: int | None = None) -> list[tuple[str, np.ndarray, int]]:
    photos = face_recognition_dir()
    return [(name, _read(photos / name, height), n) for name, n in FACE_RECOGNITION_PHOTOS.items()]


def montage(names: list[str], height: int = 600) -> np.ndarray:
    """Photos side by side at one height: several real people in one image."""
    photos = face_recognition_dir()
    return np.ascontiguousarray(np.concatenate([_read(photos / n, height) for n in names], 1))


def group_photos() -> list[tuple[str, np.ndarray, int]]:
    return [("biden+obama", montage(["biden.jpg", "obama.jpg"]), 2),
            ("biden+obama+obama3", montage(["biden.jpg", "obama.jpg", "obama3.jpg"]), 3)]


def all_photos() -> list[tuple[str, np.ndarray, int]]:
    return astronaut() + face_recognition_photos() + group_photos()
