""".venv/bin/python benchmarks/motion_look.py [--first 745 500 650] [--frames 30] [--repeats 2]

What the video look at moving pixels costs (``understudy.perception.motion``): the people
perceiver's ``perceive_stream`` over stretches of opencv-doc's street clip (768x576, 10 fps;
fetched by the test suite into ``~/.cache/understudy/test-photos``), timed with the look and
without it (``FusedPeople.motion = None``), the two runs alternating in one process so that
the ratio survives the machine's load. Reported per stretch: ms per frame each way, the
ratio, windows looked at per frame, and the people the look added (person-frames with and
without it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def stream(perceiver, frames: list[np.ndarray], name: str) -> tuple[float, int, int]:
    """Seconds, person-frames and motion windows of one pass over ``frames``."""
    from understudy.scene import Frame

    fused = perceiver.people.detector
    people = windows = 0
    start = time.perf_counter()
    for scene in perceiver.perceive_stream(Frame(f, name, i) for i, f in enumerate(frames)):
        people += len(scene.people)
        windows += len(fused.last_motion_windows)
    return time.perf_counter() - start, people, windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, nargs="+", default=[745, 500, 650])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from people_set import _video_frames, opencv_doc_dir
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    perceiver = build_perceiver(PerceptionOptions(target="people"))
    fused = perceiver.people.detector
    look = fused.motion
    print("| stretch | ms/frame without | ms/frame with | ratio | windows/frame "
          "| person-frames without -> with |")
    print("|---|---|---|---|---|---|")
    for first in args.first:
        grabbed = _video_frames(opencv_doc_dir() / "vtest.avi",
                                set(range(first, first + args.frames)))
        frames = [grabbed[i] for i in sorted(grabbed)]
        stream(perceiver, frames[:4], "warm-up")
        runs: dict[bool, list[tuple[float, int, int]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for on in (False, True):
                fused.motion = look if on else None
                runs[on].append(stream(perceiver, frames, f"vtest{first}"))
        fused.motion = look
        off = min(r[0] for r in runs[False]) / len(frames) * 1000
        on = min(r[0] for r in runs[True]) / len(frames) * 1000
        windows = runs[True][0][2] / len(frames)
        print(f"| {first}-{first + len(frames) - 1} | {off:.0f} | {on:.0f} | {on / off:.2f}x "
              f"| {windows:.2f} | {runs[False][0][1]} -> {runs[True][0][1]} |", flush=True)


if __name__ == "__main__":
    main()
