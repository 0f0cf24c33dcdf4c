""".venv/bin/python benchmarks/faces.py [--copies 10] [--photos DIR]

Face anonymization throughput: `understudy anonymize --target faces --method blur` against
`deface` (the tool our users run today) on the same images, in one run, on the same machine
with the same threads. Both are timed as whole commands, start-up included, as a user meets
them. Faces found are counted with each tool's own detector at its default threshold.

Goal (issue 3): at least 1.5x deface's images/s while finding at least as many faces.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def photo_set(extra: Path | None) -> list[Path]:
    """The bundled samples plus real face photos: the face_recognition 1.3.0 test images when
    the test suite has fetched them, or any folder given with --photos."""
    sys.path.insert(0, str(ROOT / "src"))
    from understudy.samples import sample_paths

    photos = list(sample_paths())
    folders = [extra] if extra else []
    cache = Path.home() / ".cache/understudy/test-photos"
    # tests/photos.py unpacks the sdist here (older runs used a "dl" subfolder).
    folders += [cache / "face_recognition-1.3.0/tests/test_images",
                cache / "dl/face_recognition-1.3.0/tests/test_images"]
    for folder in folders:
        if folder and folder.is_dir():
            photos += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
            break
    return photos


def build_inputs(photos: list[Path], copies: int, folder: Path) -> list[Path]:
    """``copies`` of every photo, re-encoded as RGB JPEG so both tools read the same bytes."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(copies):
        for photo in photos:
            path = folder / f"{photo.stem}_{i:03d}.jpg"
            Image.open(photo).convert("RGB").save(path, quality=92)
            paths.append(path)
    return paths


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def count_faces(photos: list[Path]) -> tuple[int, int]:
    from deface.centerface import CenterFace

    from understudy.perception.perceiver import default_face_detector

    # Ours: the default face search of `anonymize` (CenterFace + YuNet, fused).
    ours, theirs = default_face_detector(), CenterFace(backend="onnxrt")
    found_ours = found_theirs = 0
    for photo in photos:
        image = np.asarray(Image.open(photo).convert("RGB"))
        found_ours += len(ours(image))
        found_theirs += len(theirs(image, threshold=0.2)[0])  # deface's CLI default
    return found_ours, found_theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    photos = photo_set(args.photos)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = build_inputs(photos, args.copies, tmp / "in")
        n = len(inputs)
        # Alternate the two tools and keep each one's best time, so a burst of load from
        # elsewhere on the machine does not decide the ratio.
        ours_times, theirs_times = [], []
        for attempt in range(args.repeats):
            out = tmp / f"ours{attempt}"
            ours_times.append(timed([str(BIN / "understudy"), "anonymize", str(tmp / "in"), "-o",
                                     str(out), "--target", "faces", "--method", "blur", "--quiet"]))
            # deface writes next to its inputs; give it its own copy of the folder.
            theirs_in = tmp / f"deface{attempt}"
            shutil.copytree(tmp / "in", theirs_in)
            theirs_times.append(timed([str(BIN / "deface"), str(theirs_in), "--replacewith", "blur"]))
        ours, theirs = min(ours_times), min(theirs_times)
    faces_ours, faces_theirs = count_faces(photos)
    figures = {
        "images": n, "distinct_photos": len(photos), "repeats": args.repeats,
        "understudy_images_per_s": round(n / ours, 2), "deface_images_per_s": round(n / theirs, 2),
        "throughput_ratio": round(theirs / ours, 2),
        "faces_found_understudy": faces_ours, "faces_found_deface": faces_theirs,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
