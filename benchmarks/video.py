""".venv/bin/python benchmarks/video.py [--frames 60] [--first 200] [--methods maskout refsd]
[--no-reference]

Video throughput as a user meets it: `understudy anonymize CLIP --target people` timed as a
whole command (start-up, decode, perception, method, encode), on a clip cut from opencv-doc's
street video (768x576, 10 fps, 6-8 walkers per frame; fetched by the test suite into
``~/.cache/understudy/test-photos``). Reported per method: frames/s, seconds per person-frame,
the share of person-frames replaced, and the flicker (alternations) from the audit row.

A method that reads no pose (blur, pixelate, maskout: ``MethodSpec.reads``) runs twice in the
same session: as users get it (perception skips MediaPipe pose, and perceives keyframes in
full with people carried along the optical flow between them: ``perception/keyframes.py``)
and with ``--full-perception`` (every stage on every frame, the reference). Against the reference,
``missed`` counts the person-frames the fast run left visible: each blob of pixels the
reference changed on a frame (one person, or people who touch) is missed when the fast run
left more than half of its pixels unchanged; ``pixels_left`` is the share of all the
reference's changed pixels the fast run left unchanged. Both count whatever the reference
changed, its tracker's artefacts too (a box interpolated between two people's detections sweeps
across empty pavement on vtest 216-218 and 240-241): ``moving_left`` is the detector-free check
beside them, for every run, the evaluation's moving blobs of the original (people walking)
left mostly unchanged, of ``moving_blobs`` (``understudy.evaluation.video.check_video``).

Goals: people mask-out at >= 5 frames/s on 2 cores (issue 18), RefSD at most 0.3 s per
person-frame end to end (issue 20). The figures are rates on the stated machine; the ratio
of two runs in one session is what survives a change of machine.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# A pixel counts as changed when a channel moved by more than this: well above the codec's
# noise between two encodings of the same frame (a few grey levels), well below a fill.
CHANGED = 40
MISSED_SHARE = 0.5  # a reference blob with more than this share unchanged was missed
MIN_BLOB = 50  # pixels: smaller blobs of change are codec noise at the fill's edge


def run(clip: Path, out: Path, method: str, full: bool = False) -> dict:
    from understudy.evaluation.video import check_video

    cli = [str(Path(sys.executable).parent / "understudy"), "anonymize", str(clip), "-o",
           str(out), "--method", method, "--target", "people"]
    if full:
        cli.append("--full-perception")
    start = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    row = json.loads((out / "audit.jsonl").read_text().splitlines()[-1])
    moving = check_video(clip, out / clip.name, row, clip.name)
    counts = row["counts"]
    people = sum(n for k, n in counts.items() if k.startswith("person:"))
    return {"method": method + (" (full perception)" if full else ""),
            "seconds": round(seconds, 1), "frames": row["frames"],
            "frames_per_s": round(row["frames"] / seconds, 2),
            "person_frames": people,
            "s_per_person_frame": round(seconds / max(people, 1), 3),
            "replaced_share": round(100 * counts.get("person:replaced", 0) / max(people, 1), 1),
            "alternations": row.get("alternations"),
            "moving_blobs": moving.moving_blobs, "moving_left": moving.left_visible}


def missed(original: Path, reference: Path, candidate: Path) -> dict:
    """Person-frames (blobs the reference changed) that ``candidate`` left visible."""
    import cv2

    from understudy.evaluation.video import read_frames

    blobs = lost = 0
    ref_pixels = left_pixels = 0
    for a, r, c in zip(read_frames(original), read_frames(reference), read_frames(candidate)):
        ref = np.abs(r.astype(np.int16) - a).max(axis=2) > CHANGED
        kept = np.abs(c.astype(np.int16) - a).max(axis=2) <= CHANGED
        ref_pixels += int(ref.sum())
        left_pixels += int((ref & kept).sum())
        n, labels, stats, _ = cv2.connectedComponentsWithStats(ref.astype(np.uint8), 8)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < MIN_BLOB:
                continue
            blobs += 1
            blob = labels == i
            lost += bool((kept & blob).sum() > MISSED_SHARE * blob.sum())
    return {"reference_blobs": blobs, "missed": lost,
            "pixels_left": round(100 * left_pixels / max(ref_pixels, 1), 2)}


def main() -> None:
    from understudy.methods.registry import get_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--first", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=["maskout", "refsd"])
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the every-frame reference run (its coverage figures too): "
                             "for a whole clip, where it would take ~10 min")
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from people_set import write_street_clip

        clip = write_street_clip(Path(tmp) / "street.mp4", args.first, args.frames)
        for m in args.methods:
            fast = run(clip, Path(tmp) / m, m)
            rows.append(fast)
            if "pose" in get_spec(m).reads or args.no_reference:
                continue  # perception runs every stage anyway, or no comparison was asked
            full = run(clip, Path(tmp) / f"{m}-full", m, full=True)
            fast["speedup"] = round(fast["frames_per_s"] / full["frames_per_s"], 2)
            fast.update(missed(clip, Path(tmp) / f"{m}-full" / clip.name,
                               Path(tmp) / m / clip.name))
            rows.append(full)
        load.append(os.getloadavg()[0])
    print(f"load average (1 min) before/after: {load[0]:.1f} / {load[1]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
