""".venv/bin/python benchmarks/background_plate.py [--first 600] [--frames 40]

How close RefSD's fill behind each person is to the real background on a still-camera street
clip (opencv-doc's ``vtest.avi``, 768x576, 10 fps), with the clean background plate
(``render/plate.py``, the default in video) and without it (per-frame Telea inpainting).

The reference background is the per-pixel median of every 4th frame of the whole clip
(200 frames): walkers move, so the median is the empty street. The error is the mean
absolute difference (grey levels, 0-255) between the filled background and that reference
over the removed pixels of each frame; "flicker" is the mean absolute change of the fill
between consecutive frames where a pixel is removed in both (a steady fill changes little).
Perception runs once (cached) and is shared by both runs, so only the fill differs; the
time reported is RefSD's removal stage (plate and inpainting) per frame.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def reference_background(path: Path) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % 4 == 0:
            frames.append(bgr[:, :, ::-1])
        i += 1
    cap.release()
    return np.median(np.stack(frames), axis=0).astype(np.float32)


def run(frames: list[np.ndarray], plate: bool, cache: Path) -> dict:
    from understudy.methods.refsd import RefSD, RefSDOptions
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
    from understudy.scene import Frame

    method = RefSD(RefSDOptions(plate=plate), keep_stages=True)
    anonymizer = Anonymizer(AnonymizeOptions(
        "refsd", perception=PerceptionOptions("people", cache_dir=str(cache))), method=method)
    fills, shares = [], []
    start = time.perf_counter()
    for scene, result in anonymizer.stream(Frame(f, "street.mp4", i) for i, f in enumerate(frames)):
        fills.append((method.stages["holes"].copy(), method.stages["inpainted"].copy()))
        shares += [r.attributes.get("plate_share", 0.0) for r in result.regions
                   if r.outcome.value == "replaced" and r.kind == "person"]
    seconds = time.perf_counter() - start
    anonymizer.close()
    return {"fills": fills, "seconds": seconds, "inpaint": method.timings["inpaint"],
            "plate_share": float(np.mean(shares)) if shares else 0.0}


def score(fills, reference: np.ndarray) -> dict:
    errors, changes = [], []
    last = None
    for hole, fill in fills:
        if hole.any():
            errors.append(np.abs(fill[hole].astype(np.float32) - reference[hole]).mean())
        if last is not None:
            both = hole & last[0]
            if both.any():
                changes.append(np.abs(fill[both].astype(np.float32)
                                      - last[1][both].astype(np.float32)).mean())
        last = (hole, fill)
    return {"error": float(np.mean(errors)), "flicker": float(np.mean(changes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=600)
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    from people_set import _video_frames, opencv_doc_dir

    path = opencv_doc_dir() / "vtest.avi"
    reference = reference_background(path)
    wanted = range(args.first, args.first + args.frames)
    frames = [f for _, f in sorted(_video_frames(path, set(wanted)).items())]
    with tempfile.TemporaryDirectory() as tmp:
        for plate in (False, True):
            out = run(frames, plate, Path(tmp))
            figures = score(out["fills"], reference)
            print(f"plate={'on ' if plate else 'off'}  error {figures['error']:.1f}  "
                  f"flicker {figures['flicker']:.1f}  grey levels; "
                  f"removal {1000 * out['inpaint'] / len(frames):.0f} ms/frame; "
                  f"filled from the plate {100 * out['plate_share']:.0f} % of removed pixels")


if __name__ == "__main__":
    main()
