""".venv/bin/python benchmarks/video_looks.py --look motion|second [--first ...] [--frames 30]
[--repeats 2]

What a video look costs, on the people perceiver's ``perceive_stream`` over stretches of
opencv-doc's street clip (768x576, 10 fps; fetched by the test suite into
``~/.cache/understudy/test-photos``):

* ``--look motion``: the closer look at moving pixels nobody covers
  (``perception/motion.py``; off: ``FusedPeople.motion = None``). Default stretches 745, 500
  and 650.
* ``--look second``: the second look at weak finds (``perception/second_look.py``; off:
  ``AssemblyOptions.second_look = None``). Default stretches 220, 460 and 650.

Each stretch is timed with the look and without it, the two runs alternating in one process
so that the ratio survives the machine's load (best of ``--repeats``). Reported: ms per frame
each way, the ratio, windows looked at per frame, and person-frames without and with the look
(all of them for the motion look, which adds people; the weak ones, under 0.5 with the
tracker's holds, for the second look, which removes them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
DEFAULT_FIRST = {"motion": [745, 500, 650], "second": [220, 460, 650]}


class CountedLook:
    """The detector's window look (``FusedPeople.look_at``), counted."""

    def __init__(self, look) -> None:
        self.look = look
        self.calls = 0

    def __call__(self, image, window):
        self.calls += 1
        return self.look(image, window)


def stream(perceiver, frames: list[np.ndarray], name: str,
           counts: Callable[[object], int], windows: Callable[[], int]) -> tuple[float, int, int]:
    """Seconds, the person-frames ``counts`` counts, and windows of one pass over ``frames``."""
    from understudy.scene import Frame

    people = looked = 0
    start = time.perf_counter()
    for scene in perceiver.perceive_stream(Frame(f, name, i) for i, f in enumerate(frames)):
        people += sum(counts(p) for p in scene.people)
        looked += windows()
    return time.perf_counter() - start, people, looked


def switches(perceiver, look: str) -> tuple[Callable[[bool], None], Callable[[object], int],
                                            Callable[[], int]]:
    """How to turn ``look`` on and off, which person-frames to count, and its windows."""
    people = perceiver.people
    fused = people.detector
    if look == "motion":
        motion = fused.motion

        def turn(on: bool) -> None:
            fused.motion = motion if on else None

        return turn, lambda p: 1, lambda: len(fused.last_motion_windows)
    with_look = people.options
    without = dataclasses.replace(with_look, second_look=None)
    counted = CountedLook(fused.look_at)
    fused.look_at = counted

    def turn(on: bool) -> None:
        people.options = with_look if on else without

    def windows() -> int:
        calls, counted.calls = counted.calls, 0
        return calls

    return turn, lambda p: int(p.score < 0.5), windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--look", choices=sorted(DEFAULT_FIRST), required=True)
    parser.add_argument("--first", type=int, nargs="+")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from people_set import _video_frames, opencv_doc_dir
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    perceiver = build_perceiver(PerceptionOptions(target="people"))
    turn, counts, windows = switches(perceiver, args.look)
    counted = "person-frames" if args.look == "motion" else "weak person-frames"
    print(f"| stretch | ms/frame without | ms/frame with | ratio | windows/frame "
          f"| {counted} without -> with |")
    print("|---|---|---|---|---|---|")
    for first in args.first or DEFAULT_FIRST[args.look]:
        grabbed = _video_frames(opencv_doc_dir() / "vtest.avi",
                                set(range(first, first + args.frames)))
        frames = [grabbed[i] for i in sorted(grabbed)]
        stream(perceiver, frames[:4], "warm-up", counts, windows)
        runs: dict[bool, list[tuple[float, int, int]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for on in (False, True):
                turn(on)
                runs[on].append(stream(perceiver, frames, f"vtest{first}", counts, windows))
        turn(True)
        off = min(r[0] for r in runs[False]) / len(frames) * 1000
        on = min(r[0] for r in runs[True]) / len(frames) * 1000
        print(f"| {first}-{first + len(frames) - 1} | {off:.0f} | {on:.0f} | {on / off:.2f}x "
              f"| {runs[True][0][2] / len(frames):.2f} | {runs[False][0][1]} -> "
              f"{runs[True][0][1]} |", flush=True)


if __name__ == "__main__":
    main()
