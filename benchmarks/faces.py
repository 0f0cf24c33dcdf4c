""".venv/bin/python benchmarks/faces.py [--copies 10] [--large-copies 2] [--photos DIR]

Face anonymization throughput: `understudy anonymize --target faces --method blur` against
`deface` (the tool our users run today) on the same images, in one run, on the same machine
with the same threads. Both are timed as whole commands, start-up included, as a user meets
them. Faces found are counted with each tool's own detector at its default threshold.

Two sets, reported separately: "small" (photos under 1 MP) and "large" (camera-sized, 1-12
MP). Real photos of 1 MP and more are few, so the large set adds camera-sized images made at
run time from the real ones (never committed): Lanczos upscales (2-4x) and 4000x3000 /
3000x2000 montages of several real photos at their own resolution, where faces stay small.

Goals: issue 3, at least 1.5x deface's images/s on small photos; issue 18, at least 2x on
camera-sized ones; both while finding at least as many faces.
"""

from __future__ import annotations

import argparse
import json
import os
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
AUDIT = "audit.jsonl"


CACHE = Path.home() / ".cache/understudy/test-photos"
# opencv-doc's example photos (Debian package, unpacked by the people-set tests): a football
# player with others behind him, and two basketball scenes with several small faces.
OPENCV_DATA = CACHE / "opencv-doc/usr/share/doc/opencv-doc/examples/data"
OPENCV_PHOTOS = ("messi5.jpg", "basketball1.png", "basketball2.png")
LARGE = 1_000_000  # pixels: "camera-sized" from here


def photo_set(extra: Path | None) -> list[Path]:
    """The bundled samples plus real face photos: the face_recognition 1.3.0 test images when
    the test suite has fetched them (or any folder given with --photos), and opencv-doc's
    example photos when present."""
    sys.path.insert(0, str(ROOT / "src"))
    from understudy.samples import sample_paths

    photos = list(sample_paths())
    folders = [extra] if extra else []
    # tests/photos.py unpacks the sdist here (older runs used a "dl" subfolder).
    folders += [CACHE / "face_recognition-1.3.0/tests/test_images",
                CACHE / "dl/face_recognition-1.3.0/tests/test_images"]
    for folder in folders:
        if folder and folder.is_dir():
            photos += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
            break
    photos += [OPENCV_DATA / name for name in OPENCV_PHOTOS if (OPENCV_DATA / name).is_file()]
    return photos


def _rgb(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def _montage(photos: list[Image.Image], size: tuple[int, int], grid: tuple[int, int],
             fit: bool) -> Image.Image:
    """Real photos on a grey canvas: scaled to fill their cell (``fit``) or at their own
    resolution (cropped to the cell), so faces stay as small as they were."""
    canvas = Image.new("RGB", size, (118, 118, 118))
    cw, ch = size[0] // grid[0], size[1] // grid[1]
    for k, photo in enumerate(photos[:grid[0] * grid[1]]):
        if fit:
            s = min(cw / photo.width, ch / photo.height)
            photo = photo.resize((round(photo.width * s), round(photo.height * s)),
                                 Image.Resampling.LANCZOS)
        photo = photo.crop((0, 0, min(photo.width, cw), min(photo.height, ch)))
        canvas.paste(photo, ((k % grid[0]) * cw, (k // grid[0]) * ch))
    return canvas


def camera_sized(photos: list[Path]) -> dict[str, Image.Image]:
    """Camera-sized (1-12 MP) images made from the real photos: the real ones of 1 MP and
    more as they are, Lanczos upscales, and montages. Deterministic (no randomness)."""
    images = {p.stem: _rgb(p) for p in photos}
    made = {name: im for name, im in images.items() if im.width * im.height >= LARGE}
    up = Image.Resampling.LANCZOS
    # 1.2 MP (where deface's full-resolution search costs least against ours) up to 4.7 MP.
    for name, factor in (("basketball2", 2), ("messi5", 2.5), ("messi5", 4), ("basketball1", 3),
                         ("obama2", 2.5), ("astronaut", 4)):
        if name in images:
            im = images[name]
            made[f"{name}_x{factor:g}"] = im.resize((round(im.width * factor),
                                                      round(im.height * factor)), up)
    small = [im for im in images.values() if im.width * im.height < LARGE]
    if small:
        # 12 MP: every small photo scaled into a 4x3 grid of 1000 px cells (faces 100-400 px).
        made["montage_12mp"] = _montage(small, (4000, 3000), (4, 3), fit=True)
        # 6 MP: the scenes with people far away at their own resolution (faces 15-40 px).
        crowd = [images[n] for n in ("basketball1", "basketball2", "messi5") if n in images]
        crowd += [im for n, im in images.items() if n not in ("basketball1", "basketball2",
                                                               "messi5")]
        made["crowd_6mp"] = _montage(crowd, (3000, 2000), (3, 2), fit=False)
        # 12 MP: the same scenes at their own size and at half size, with the portraits at
        # a quarter: faces 10-60 px, as in a group or street photo from a phone.
        half = [im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
                for im in crowd]
        quarter = [im.resize((im.width // 4, im.height // 4), Image.Resampling.LANCZOS)
                   for n, im in images.items() if n not in ("basketball1", "basketball2",
                                                            "messi5")]
        made["crowd_12mp"] = _montage(crowd[:3] + half[:3] + quarter, (4000, 3000), (4, 3),
                                      fit=False)
    return made


def build_inputs(images: dict[str, Image.Image], copies: int, folder: Path) -> list[Path]:
    """``copies`` of every image, encoded as RGB JPEG so both tools read the same bytes."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(copies):
        for stem, image in images.items():
            path = folder / f"{stem}_{i:03d}.jpg"
            image.save(path, quality=92)
            paths.append(path)
    return paths


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - started


def anonymize(folder: Path, out: Path, src: Path | None = None) -> float:
    """Our command, timed; from another source tree ``src`` (e.g. a `git worktree` of an
    older commit) when given, with the same interpreter and packages."""
    args = ["anonymize", str(folder), "-o", str(out), "--target", "faces", "--method", "blur",
            "--quiet"]
    if src is None:
        return timed([str(BIN / "understudy"), *args])
    env = {**os.environ, "PYTHONPATH": str(src)}
    return timed([sys.executable, "-m", "understudy", *args], env)


def faces_in_audit(folder: Path, copy: str = "_000.jpg") -> dict[str, int]:
    """Face regions our command wrote in its audit for the first copy of every image, by
    image: what `anonymize` found on the path it really runs (decode included)."""
    found = {}
    for line in (folder / AUDIT).read_text().splitlines():
        row = json.loads(line)
        if str(row.get("output", "")).endswith(copy):
            found[Path(row["output"]).stem] = sum(1 for r in row.get("regions", [])
                                                  if r.get("kind") == "face")
    return found


def deface_faces(paths: list[Path]) -> dict[str, int]:
    """Faces deface's detector finds at its CLI defaults (full resolution, threshold 0.2)."""
    from deface.centerface import CenterFace

    theirs = CenterFace(backend="onnxrt")
    return {p.stem: len(theirs(np.asarray(Image.open(p).convert("RGB")), threshold=0.2)[0])
            for p in paths}


def fewer(ours: dict[str, int], theirs: dict[str, int]) -> list[str]:
    """Images where we found fewer faces than deface (a count, not a match: a face split in
    two by deface counts twice)."""
    return sorted(name for name, n in theirs.items() if ours.get(name, 0) < n)


def measure(images: dict[str, Image.Image], copies: int, repeats: int, tmp: Path,
            baseline: Path | None = None) -> dict:
    """Both tools on ``copies`` of ``images``, alternated ``repeats`` times, best of each;
    our command from ``baseline`` (another source tree) too when given."""
    inputs = build_inputs(images, copies, tmp / "in")
    n = len(inputs)
    # Alternate the tools and keep each one's best time, so a burst of load from
    # elsewhere on the machine does not decide the ratio.
    ours_times, theirs_times, base_times = [], [], []
    for attempt in range(repeats):
        ours_times.append(anonymize(tmp / "in", tmp / f"ours{attempt}"))
        if baseline is not None:
            base_times.append(anonymize(tmp / "in", tmp / f"base{attempt}", baseline))
        # deface writes next to its inputs; give it its own copy of the folder.
        theirs_in = tmp / f"deface{attempt}"
        shutil.copytree(tmp / "in", theirs_in)
        theirs_times.append(timed([str(BIN / "deface"), str(theirs_in), "--replacewith", "blur"]))
        shutil.rmtree(theirs_in)
    ours, theirs = min(ours_times), min(theirs_times)
    pixels = [im.width * im.height for im in images.values()]
    found_ours = faces_in_audit(tmp / "ours0")
    found_theirs = deface_faces([p for p in inputs if p.stem.endswith("_000")])
    figures = {
        "images": n, "distinct_images": len(images), "repeats": repeats,
        "megapixels": [round(min(pixels) / 1e6, 2), round(max(pixels) / 1e6, 2)],
        "understudy_images_per_s": round(n / ours, 2), "deface_images_per_s": round(n / theirs, 2),
        "throughput_ratio": round(theirs / ours, 2),
        "faces_found_understudy": sum(found_ours.values()),
        "faces_found_deface": sum(found_theirs.values()),
        "images_where_understudy_found_fewer": fewer(found_ours, found_theirs),
    }
    if baseline is not None:
        base = min(base_times)
        found_base = faces_in_audit(tmp / "base0")
        figures.update({"baseline_images_per_s": round(n / base, 2),
                        "baseline_throughput_ratio": round(theirs / base, 2),
                        "faces_found_baseline": sum(found_base.values()),
                        "images_where_baseline_found_fewer": fewer(found_base, found_theirs)})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of each small photo")
    parser.add_argument("--large-copies", type=int, default=2,
                        help="copies of each camera-sized image")
    parser.add_argument("--sets", default="small,large", help="which sets to run")
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--baseline-src", type=Path,
                        help="also time our command from this source folder (e.g. the src/ of "
                             "a `git worktree` at an older commit), in the same alternation")
    args = parser.parse_args()
    photos = photo_set(args.photos)
    sets = {"small": ({p.stem: _rgb(p) for p in photos
                       if _rgb(p).width * _rgb(p).height < LARGE}, args.copies),
            "large": (camera_sized(photos), args.large_copies)}
    figures: dict = {"load_average_before": [round(v, 2) for v in os.getloadavg()]}
    for name in args.sets.split(","):
        images, copies = sets[name]
        with tempfile.TemporaryDirectory() as tmp:
            figures[name] = measure(images, copies, args.repeats, Path(tmp), args.baseline_src)
        figures[name]["names"] = sorted(images)
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
