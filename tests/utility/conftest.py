"""Small real datasets for the utility tests, made at test time from scikit-image's photos.

scikit-image's sample photos (astronaut: NASA, public domain; chelsea, coffee, rocket,
brick, grass, gravel: public domain or CC0, as their skimage.data docstrings state) are cut
into crops; nothing is committed.

* classify: 40x40 crops labelled with the photo they come from (``source``, 4 classes) and
  whether they are in colour or grey (``tone``). Train crops come from the left 60 % of each photo,
  test crops from the right 40 %, so no test pixel is seen in training. The "synthetic"
  split is the train crops after a pseudonymization-like change (coarse pixelation and a
  colour cast), under their own file names.
* detect: the astronaut (a person) pasted at random places and sizes onto background crops;
  COCO boxes. The synthetic split holds the same images pixelated under the same file
  names and annotations, as an anonymized dataset would.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SOURCES = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The test machines share 2 cores among many jobs; one thread per process is several
    times faster there than two threads fighting for them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def photo(name: str) -> Image.Image:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    path = next(folder.glob(f"{name}.*"))
    return Image.open(path).convert("RGB")


def anonymize_like(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A stand-in for pseudonymization: coarse pixelation plus a colour cast."""
    w, h = img.size
    small = img.resize((max(1, w // 3), max(1, h // 3)), Image.Resampling.BILINEAR)
    out = np.asarray(small.resize((w, h), Image.Resampling.NEAREST)).astype(np.float32)
    out = out * (1 + 0.15 * (rng.random(3) - 0.5)) + 10 * (rng.random(3) - 0.5)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def classify_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classify")
    rng = np.random.default_rng(0)
    dirs = {k: root / k for k in ("real", "synthetic", "test")}
    for d in dirs.values():
        d.mkdir()
    rows = []
    per_class = {"real": 24, "test": 12}
    for source in SOURCES:
        img = photo(source)
        w, h = img.size
        for split, n in per_class.items():
            lo, hi = (0.0, 0.6) if split == "real" else (0.6, 1.0)
            for i in range(n):
                tone = ("colour", "grey")[i % 2]
                side = int(min(w * (hi - lo), h) * rng.uniform(0.25, 0.55))
                x = int(rng.integers(int(w * lo), int(w * hi) - side))
                y = int(rng.integers(0, h - side))
                crop = img.crop((x, y, x + side, y + side)).resize((40, 40), Image.Resampling.BILINEAR)
                if tone == "grey":
                    crop = crop.convert("L").convert("RGB")
                name = f"{split}_{source}_{i:02d}.png"
                crop.save(dirs[split] / name)
                rows.append({"image": name, "source": source, "tone": tone})
                if split == "real":
                    syn = f"synthetic_{source}_{i:02d}.png"
                    anonymize_like(crop, rng).save(dirs["synthetic"] / syn)
                    rows.append({"image": syn, "source": source, "tone": tone})
    with (root / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["image", "source", "tone"])
        writer.writeheader()
        writer.writerows(rows)
    return {**dirs, "labels": root / "labels.csv", "root": root}


def _composites(n: int, backgrounds: list[Image.Image], person: Image.Image, size: int,
                rng: np.random.Generator) -> list[tuple[Image.Image, list[list[float]]]]:
    out = []
    for _ in range(n):
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        side = int(rng.integers(size, min(bg.size)))
        x, y = int(rng.integers(0, bg.width - side + 1)), int(rng.integers(0, bg.height - side + 1))
        canvas = bg.crop((x, y, x + side, y + side)).resize((size, size))
        boxes = []
        for _ in range(int(rng.integers(1, 3))):
            ph = int(rng.integers(size // 3, size * 2 // 3))
            pw = int(ph * person.width / person.height)
            px, py = int(rng.integers(0, size - pw)), int(rng.integers(0, size - ph))
            canvas.paste(person.resize((pw, ph)), (px, py))
            boxes.append([px, py, pw, ph])
        out.append((canvas, boxes))
    return out


@pytest.fixture(scope="session")
def detect_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("detect")
    rng = np.random.default_rng(1)
    person = photo("astronaut").crop((150, 20, 400, 512))  # Eileen Collins, upper body
    train_bg = [photo(n) for n in ("coffee", "chelsea", "brick")]
    test_bg = [photo(n) for n in ("rocket", "grass", "gravel")]
    made = {}
    for split, n, bgs in (("real", 48, train_bg), ("test", 16, test_bg)):
        d = root / split
        d.mkdir()
        coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
        for i, (img, boxes) in enumerate(_composites(n, bgs, person, 128, rng)):
            name = f"img_{i:03d}.jpg"
            img.save(d / name, quality=92)
            coco["images"].append({"id": i + 1, "file_name": name, "width": 128, "height": 128})
            for b in boxes:
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i + 1,
                                            "category_id": 1, "bbox": b, "iscrowd": 0,
                                            "area": b[2] * b[3]})
            if split == "real":
                (root / "synthetic").mkdir(exist_ok=True)
                anonymize_like(img, rng).save(root / "synthetic" / name, quality=92)
        (root / f"{split}.json").write_text(json.dumps(coco))
        made[split] = d
    return {**made, "synthetic": root / "synthetic", "labels": root / "real.json",
            "test_labels": root / "test.json", "root": root}
