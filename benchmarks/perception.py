""".venv/bin/python benchmarks/perception.py [--repeat 3] [--skip-timing] [--skip-recall]

Two measurements of the default ``--target people`` perception on the CPU:

1. **Time** per image and per person of each stage, on real photos (scikit-image's astronaut,
   the face_recognition 1.3.0 test photos and montages of them; see tests/photos.py):

     faces    face detection on the whole image (CenterFace + YuNet, fused)
     detect   the fused people detectors: SSDLite, COCO SSD-MobileNetV2, MoveNet MultiPose
     pose     MediaPipe Pose on each person crop (crop, mirror, wider crop, its mirror)
     total    the whole people stage: detect + pose + segmentation, masks, face assignment,
              the residual-person guard

   Goal (issue 14): the people stage under 150 ms per person on 2 CPU cores. Each image
   also runs the stage as it was before issue 14 (SSDLite boxes only, untiled selfie
   segmentation, no residual guard, no wider pose retry) right after ours, so the ratio
   "new / old" holds even on a loaded machine.

2. **Recall** on the hand-labelled people set (tests/people_set.py: 39 people in 13 photos, with
   people cut by the edge, seen from behind, overlapping, occluded, small). A labelled person is

     found     matched one-to-one to a perceived person (box IoU >= 0.3), any source
     sure      found and not ``uncertain`` (a method may replace them)
     posed     sure and with a pose (MediaPipe 33 landmarks or MoveNet's 17 keypoints)
     covered   at least 40 % of their labelled box lies in the regions a method changes
               (people and stray faces): nobody left as they were

   reported overall and per tag, with the audit ``source`` of the people found.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MATCH_IOU = 0.3
COVERED_SHARE = 0.4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()

    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    perceiver = build_perceiver(PerceptionOptions(target="people"))
    if not args.skip_timing:
        timing(perceiver, args.repeat)
    if not args.skip_recall:
        recall(perceiver)


def timing(perceiver, repeat: int) -> None:
    import cv2

    import photos
    from understudy.perception.faces import cpu_count
    from understudy.scene import Frame

    from understudy.perception.assemble import AssemblyOptions, PeopleAssembler
    from understudy.perception.people import SSDLitePeople
    from understudy.perception.pose import MediaPipePose, PoseOptions
    from understudy.perception.segmentation import SegmentationOptions, SelfieSegmenter

    stage = perceiver.people  # a PeopleAssembler around the fused detector
    old = PeopleAssembler(SSDLitePeople(), MediaPipePose(PoseOptions(retry_margin=0)),
                          SelfieSegmenter(SegmentationOptions(tiled=False)),
                          AssemblyOptions(residual=None, min_lone_score=0.0))
    cases = photos.astronaut() + photos.face_recognition_photos(height=800) + photos.group_photos()
    print(f"{cpu_count()} CPU cores, OpenCV threads {cv2.getNumThreads()}, repeat {repeat}")
    print(f"{'image':22s} {'size':>9s} {'people':>6s} {'faces':>7s} {'detect':>7s} {'pose':>7s} "
          f"{'total':>7s} {'per person':>10s} {'old/person':>10s}  (ms, median)")
    per_person, ratios = [], []
    for name, image, _ in cases:
        frame = Frame(image, name)
        faces = perceiver.faces(image)
        stage(frame, faces)  # warm up every model on this size
        old(frame, faces)
        t: dict[str, list[float]] = {k: [] for k in ("faces", "detect", "pose", "total", "old")}
        old_found: list = []
        found: list = []
        for _ in range(repeat):
            t["faces"].append(_ms(lambda: perceiver.faces(image)))
            people = stage.detector(image)
            t["detect"].append(_ms(lambda: stage.detector(image)))
            t["pose"].append(_ms(lambda: [stage.pose(image, p.box) for p in people]))
            t["total"].append(_ms(lambda: found.append(stage(frame, list(faces)))))
            t["old"].append(_ms(lambda: old_found.append(old(frame, list(faces)))))
        med = {k: statistics.median(v) for k, v in t.items()}
        n = max(len(found[-1]), 1)
        per_person.append(med["total"] / n)
        old_pp = med["old"] / max(len(old_found[-1]), 1)
        ratios.append(med["total"] / n / old_pp)
        size = f"{image.shape[1]}x{image.shape[0]}"
        print(f"{name:22s} {size:>9s} {len(found[-1]):>6d} {med['faces']:7.1f} "
              f"{med['detect']:7.1f} {med['pose']:7.1f} {med['total']:7.1f} "
              f"{med['total'] / n:10.1f} {old_pp:10.1f}")
    print(f"median people stage per person: {statistics.median(per_person):.1f} ms "
          f"(goal < 150 ms); new / old per person: {statistics.median(ratios):.2f}x")


def recall(perceiver) -> None:
    import people_set
    from understudy.scene import Frame

    photos = people_set.people_set()
    totals: Counter = Counter()
    by_tag: dict[str, Counter] = {}
    sources: Counter = Counter()
    seconds, perceived = 0.0, 0
    print(f"\n{'photo':18s} {'labelled':>8s} {'found':>5s} {'sure':>5s} {'posed':>5s} "
          f"{'covered':>7s} {'people':>6s} {'ms':>6s}")
    for photo in photos:
        start = time.perf_counter()
        scene = perceiver.perceive(Frame(photo.image, photo.name))
        ms = (time.perf_counter() - start) * 1000
        seconds += ms / 1000
        perceived += len(scene.people)
        changed = np.zeros(photo.image.shape[:2], bool)
        for region in scene.regions():
            changed |= region.mask
        matches = match(photo.people, scene.people)
        row: Counter = Counter()
        for i, label in enumerate(photo.people):
            person = matches.get(i)
            x0, y0, x1, y1 = label.box
            checks = {
                "labelled": True,
                "found": person is not None,
                "sure": person is not None and not person.uncertain,
                "posed": person is not None and not person.uncertain and (
                    person.keypoints2d is not None or person.keypoints_coco17 is not None),
                "covered": changed[y0:y1, x0:x1].mean() >= COVERED_SHARE,
            }
            if person is not None:
                sources[person.source] += 1
            for key, ok in checks.items():
                row[key] += ok
                for tag in label.tags or {"plain"}:
                    by_tag.setdefault(tag, Counter())[key] += ok
        totals.update(row)
        print(f"{photo.name:18s} {row['labelled']:8d} {row['found']:5d} {row['sure']:5d} "
              f"{row['posed']:5d} {row['covered']:7d} {len(scene.people):6d} {ms:6.0f}")
    n = totals["labelled"]
    print(f"{'all':18s} {n:8d} {totals['found']:5d} {totals['sure']:5d} {totals['posed']:5d} "
          f"{totals['covered']:7d} {perceived:6d}")
    print(f"found {totals['found'] / n:.0%}, sure {totals['sure'] / n:.0%}, "
          f"posed {totals['posed'] / n:.0%}, covered {totals['covered'] / n:.0%}; "
          f"{seconds * 1000 / max(perceived, 1):.0f} ms per perceived person (whole perceiver, "
          f"faces included); sources of found people: {dict(sources)}")
    for tag, c in sorted(by_tag.items()):
        print(f"  {tag:9s} {c['labelled']:3d} labelled: found {c['found']}, sure {c['sure']}, "
              f"posed {c['posed']}, covered {c['covered']}")


def match(labels, people) -> dict[int, object]:
    """Greedy one-to-one matching of labelled boxes to perceived people by box IoU."""
    from understudy.perception.fusion import box_iou

    pairs = sorted(((box_iou(np.array(lb.box, np.float32), p.box), i, j)
                    for i, lb in enumerate(labels) for j, p in enumerate(people)), reverse=True)
    out, used = {}, set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i in out or j in used:
            continue
        out[i] = people[j]
        used.add(j)
    return out


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
