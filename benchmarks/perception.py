""".venv/bin/python benchmarks/perception.py [--repeat 5]

Time per image and per person of each perception stage on the CPU, on real photos of people
(scikit-image's astronaut, the face_recognition 1.3.0 test photos, and montages of them with
2 and 3 people; see tests/photos.py). Stages:

  faces   CenterFace on the whole image
  boxes   SSDLite person boxes (OpenCV DNN)
  pose    MediaPipe Pose on each person crop (2D + 3D landmarks, crop mask)
  mask    selfie segmentation + per-pixel ownership of the masks
  total   the whole people stage (boxes + pose + mask + face assignment), via PeopleAssembler

Goal (issue 4): boxes + pose + mask under 150 ms per person on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import cv2

    import photos
    from understudy.perception.assemble import PeopleAssembler
    from understudy.perception.faces import CenterFaceDetector, cpu_count
    from understudy.perception.people import SSDLitePeople
    from understudy.perception.pose import MediaPipePose
    from understudy.perception.segmentation import SelfieSegmenter
    from understudy.scene import Frame

    faces_model, boxes_model = CenterFaceDetector(), SSDLitePeople()
    pose_model, seg_model = MediaPipePose(), SelfieSegmenter()
    assembler = PeopleAssembler(boxes_model, pose_model, seg_model)
    cases = photos.astronaut() + photos.face_recognition_photos(height=800) + photos.group_photos()
    print(f"{cpu_count()} CPU cores, OpenCV threads {cv2.getNumThreads()}, repeat {args.repeat}")
    print(f"{'image':22s} {'size':>9s} {'people':>6s} {'faces':>7s} {'boxes':>7s} {'pose':>7s} "
          f"{'mask':>7s} {'total':>7s} {'per person':>10s}  (ms, median)")
    per_person = []
    for name, image, _ in cases:
        frame = Frame(image, name)
        faces = faces_model(image)
        assembler(frame, faces)  # warm up every model on this size
        t = {k: [] for k in ("faces", "boxes", "pose", "mask", "total")}
        for _ in range(args.repeat):
            t["faces"].append(_ms(lambda: faces_model(image)))
            people = boxes_model(image)
            t["boxes"].append(_ms(lambda: boxes_model(image)))
            t["pose"].append(_ms(lambda: [pose_model(image, p.box) for p in people]))
            t["mask"].append(_ms(lambda: seg_model(image)))
            found = []
            t["total"].append(_ms(lambda: found.append(assembler(frame, list(faces)))))
        # "mask" = selfie segmentation + ownership: the total minus the stages measured apart.
        med = {k: statistics.median(v) for k, v in t.items()}
        med["mask"] = max(med["total"] - med["boxes"] - med["pose"], med["mask"])
        n = max(len(found[-1]), 1)
        per_person.append(med["total"] / n)
        size = f"{image.shape[1]}x{image.shape[0]}"
        print(f"{name:22s} {size:>9s} {len(found[-1]):>6d} {med['faces']:7.1f} {med['boxes']:7.1f} "
              f"{med['pose']:7.1f} {med['mask']:7.1f} {med['total']:7.1f} {med['total'] / n:10.1f}")
    print(f"median boxes+pose+mask per person: {statistics.median(per_person):.1f} ms "
          f"(goal < 150 ms)")


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
