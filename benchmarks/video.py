""".venv/bin/python benchmarks/video.py [--frames 60] [--first 200] [--methods maskout refsd]

Video throughput as a user meets it: `understudy anonymize CLIP --target people` timed as a
whole command (start-up, decode, perception, method, encode), on a clip cut from opencv-doc's
street video (768x576, 10 fps, 6-8 walkers per frame; fetched by the test suite into
``~/.cache/understudy/test-photos``). Reported per method: frames/s, seconds per person-frame,
the share of person-frames replaced, and the flicker (alternations) from the audit row.

Goals: people mask-out at >= 5 frames/s on 2 cores (issue 18), RefSD at most 0.3 s per
person-frame end to end (issue 20). The figures are rates on the stated machine; the ratio
of the two methods in one run is what survives a change of machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def run(clip: Path, out: Path, method: str) -> dict:
    cli = [str(Path(sys.executable).parent / "understudy"), "anonymize", str(clip), "-o",
           str(out), "--method", method, "--target", "people"]
    start = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    row = json.loads((out / "audit.jsonl").read_text().splitlines()[-1])
    counts = row["counts"]
    people = sum(n for k, n in counts.items() if k.startswith("person:"))
    return {"method": method, "seconds": round(seconds, 1), "frames": row["frames"],
            "frames_per_s": round(row["frames"] / seconds, 2),
            "person_frames": people,
            "s_per_person_frame": round(seconds / max(people, 1), 3),
            "replaced_share": round(100 * counts.get("person:replaced", 0) / max(people, 1), 1),
            "alternations": row.get("alternations")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--first", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=["maskout", "refsd"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from people_set import write_street_clip

        clip = write_street_clip(Path(tmp) / "street.mp4", args.first, args.frames)
        rows = [run(clip, Path(tmp) / m, m) for m in args.methods]
    print(f"load average before/after: {os.getloadavg()[0]:.1f}")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
