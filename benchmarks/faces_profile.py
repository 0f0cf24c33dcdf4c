""".venv/bin/python benchmarks/faces_profile.py [FOLDER ...]

Where the time of `anonymize --target faces --method blur` goes, per stage, in one process
(start-up excluded): decode, each face detector, fusion, blur, encode. Run on the folders
`benchmarks/faces.py` builds (or any folder of images). Milliseconds, median per image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from understudy.io.images import encode_image, read_image
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
    from understudy.scene import Frame

    anonymizer = Anonymizer(AnonymizeOptions(method="blur",
                                             perception=PerceptionOptions(target="faces")))
    detector = anonymizer.perceiver.faces
    parts = getattr(detector, "detectors", [detector])
    for folder in args.folders:
        times: dict[str, list[float]] = {}
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        for path in paths:
            for _ in range(args.repeat):
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
            print(f"  {key:28s} {1000 * statistics.median(values):8.1f} ms")


if __name__ == "__main__":
    main()
