"""A hand-labelled set of real photos of people, for whole-person privacy tests (issue 14).

    python tests/people_set.py OUT_DIR     # writes OUT_DIR/images/*.png and OUT_DIR/labels.json

The photos come from packages with a clear licence, are fetched at test time into
``~/.cache/understudy/test-photos`` and are never committed (sources and licences: the
"Test photos" rows of docs/models.md):

* Debian's ``opencv-doc`` (OpenCV's ``samples/data``; Apache-2.0 AND BSD-3-Clause per the
  package's copyright file): ``basketball1/2.png`` (two men in an office, one cut by the edge
  and turned away), ``messi5.jpg`` (a footballer mid-kick) and frames of ``vtest.avi`` (a
  street seen from above: small people, people walking away, a person behind a sign, people
  crossing in front of each other; the same people come back in several frames).
* scikit-image's ``astronaut`` (NASA, public domain) and ``camera`` (CC0, Lav Varshney).
* face_recognition 1.3.0's test photos (fetched by ``tests/photos.py``): Obama three times and
  Biden, with bystanders cut by the edge.

Hard cases are crops of those photos (people cut by the left or right edge). Each person was
labelled by hand after looking at the picture: a box ``(x1, y1, x2, y2)`` in pixels, tags from
``TAGS`` and an identity shared by every photo of the same person. vtest boxes started from a
median-background difference and were corrected by eye (two people in one blob split apart).
What is *not* labelled: the blurred stadium crowd behind the footballer, people on posters.
No photo shows people seated at a table; none of the packages we searched had one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# edge: cut by the image border; back: seen from behind; overlap: touches or hides another
# labelled person; occluded: hidden in part by an object; small: under 80 px high;
# seated: sitting. A test can select any of them.
TAGS = frozenset({"edge", "back", "overlap", "occluded", "small", "seated"})
SMALL_PX = 80

OPENCV_DOC_DATA = "usr/share/doc/opencv-doc/examples/data"
# The labels belong to these exact files: a different opencv-doc release could ship other
# pictures under the same names.
OPENCV_DOC_SHA256 = {
    "basketball1.png": "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6",
    "basketball2.png": "b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e",
    "messi5.jpg": "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
    "vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
}
OPENCV_DOC_LICENCE = "Apache-2.0 AND BSD-3-Clause (Debian opencv-doc 4.6.0, copyright file, Files: *)"


class PhotosUnavailable(RuntimeError):
    """A source package could not be fetched (no network, no apt-get): tests skip on this."""


@dataclass(frozen=True)
class LabelledPerson:
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive
    identity: str
    tags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.tags) - TAGS
        if unknown:
            raise ValueError(f"unknown tags {sorted(unknown)}; allowed: {sorted(TAGS)}")


@dataclass(frozen=True)
class LabelledPhoto:
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    people: tuple[LabelledPerson, ...]
    source: str
    licence: str
    notes: str = ""
    extra: dict = field(default_factory=dict)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "understudy" / "test-photos"


# -- sources ---------------------------------------------------------------------------------

def opencv_doc_dir() -> Path:
    """OpenCV's sample data from Debian's opencv-doc, fetched with `apt-get download` once."""
    root = cache_dir() / "opencv-doc"
    data = root / OPENCV_DOC_DATA
    if all(_sha256(data / n) == h for n, h in OPENCV_DOC_SHA256.items() if (data / n).is_file()) \
            and all((data / n).is_file() for n in OPENCV_DOC_SHA256):
        return data
    root.mkdir(parents=True, exist_ok=True)
    debs = sorted(root.glob("opencv-doc_*.deb"))
    if not debs:
        try:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=root, check=True,
                           capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as exc:
            raise PhotosUnavailable(f"cannot fetch Debian's opencv-doc with apt-get download "
                                    f"(needed for the labelled people set): {exc}") from exc
        debs = sorted(root.glob("opencv-doc_*.deb"))
    members = [f"./{OPENCV_DOC_DATA}/{n}" for n in OPENCV_DOC_SHA256]
    # Only the four files we label (~8.5 MB), not the whole 100 MB of documentation.
    tar = subprocess.Popen(["tar", "-x", "-C", str(root), *members], stdin=subprocess.PIPE)
    subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=tar.stdin, check=True)
    tar.stdin.close()
    if tar.wait() != 0:
        raise PhotosUnavailable(f"{debs[-1].name} lacks {OPENCV_DOC_DATA}/: not the expected package")
    for name, digest in OPENCV_DOC_SHA256.items():
        if _sha256(data / name) != digest:
            raise PhotosUnavailable(f"{debs[-1].name}: {name} differs from the labelled file "
                                    f"(sha256 {digest[:12]}...); the labels would not fit it")
    return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))


def _video_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = {}, 0
    while len(frames) < len(indices):
        ok, bgr = cap.read()
        if not ok:
            raise PhotosUnavailable(f"{path.name} ended at frame {i}; wanted {sorted(indices)}")
        if i in indices:
            frames[i] = np.ascontiguousarray(bgr[:, :, ::-1])
        i += 1
    cap.release()
    return frames


def write_street_clip(out: Path, first: int, count: int) -> Path:
    """Frames ``first .. first + count - 1`` of opencv-doc's ``vtest.avi`` (768x576, 10 fps)
    as an H.264 MP4 at ``out``: the real street clip the video tests and benchmarks use."""
    import av

    frames = _video_frames(opencv_doc_dir() / "vtest.avi", set(range(first, first + count)))
    with av.open(str(out), "w") as clip:
        stream = clip.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        stream.options = {"crf": "15"}
        for index in sorted(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frames[index], format="rgb24")):
                clip.mux(packet)
        for packet in stream.encode():
            clip.mux(packet)
    return out


def _crop(image: np.ndarray, people: list[LabelledPerson], x0: int, x1: int,
          min_visible: int = 8) -> tuple[np.ndarray, tuple[LabelledPerson, ...]]:
    """Crop columns [x0, x1); people cut by the new border get the tag ``edge``."""
    out = []
    for p in people:
        a, b = max(p.box[0], x0), min(p.box[2], x1)
        if b - a < min_visible:
            continue  # fewer than 8 columns left: nothing to label
        tags = set(p.tags) | ({"edge"} if (a, b) != (p.box[0], p.box[2]) else set())
        out.append(LabelledPerson((a - x0, p.box[1], b - x0, p.box[3]), p.identity,
                                  frozenset(tags)))
    return np.ascontiguousarray(image[:, x0:x1]), tuple(out)


def _p(box: tuple[int, int, int, int], identity: str, *tags: str) -> LabelledPerson:
    tags_ = set(tags) | ({"small"} if box[3] - box[1] < SMALL_PX else set())
    return LabelledPerson(tuple(int(v) for v in box), identity, frozenset(tags_))


# -- labels ----------------------------------------------------------------------------------
# vtest.avi: 768x576, 10 fps. Identities: letters for people followed by eye across frames
# (vtD wears a red-shouldered navy jacket, vtF is blonde in a black coat; both walk through
# frames 100, 300, 600 and 625). Other walkers get one identity per frame, because we could
# not tell them apart with certainty.
VTEST = {
    100: [_p((223, 62, 236, 94), "vt100a"),
          _p((349, 199, 383, 276), "vt100b", "overlap"),
          _p((375, 178, 412, 257), "vt100c", "overlap"),
          _p((423, 178, 450, 258), "vt100d", "occluded"),  # behind the sign on the pole
          _p((491, 148, 518, 222), "vtD", "back", "overlap"),
          _p((515, 150, 542, 222), "vtF", "back", "overlap"),
          _p((591, 154, 617, 234), "vt100e")],
    300: [_p((187, 160, 219, 235), "vt300a"),
          _p((238, 159, 270, 223), "vt300b"),
          _p((297, 158, 323, 232), "vt300c", "back", "overlap"),
          _p((313, 210, 344, 297), "vt300d", "overlap"),
          _p((582, 160, 613, 236), "vtD"),
          _p((620, 163, 643, 235), "vtF")],
    600: [_p((190, 145, 214, 215), "vtA"),
          _p((570, 200, 597, 288), "vtB"),
          _p((670, 209, 712, 297), "vtC"),
          _p((456, 302, 506, 418), "vtD"),
          _p((642, 305, 670, 413), "vtE"),
          _p((283, 432, 331, 576), "vtF", "edge", "back")],  # cut by the bottom edge
    625: [_p((117, 140, 135, 208), "vtA"),
          _p((97, 174, 123, 241), "vt625a"),
          _p((439, 167, 464, 246), "vtB"),
          _p((598, 248, 637, 340), "vtD", "back", "overlap"),
          _p((586, 288, 622, 389), "vtE", "overlap"),
          _p((359, 407, 412, 558), "vtF", "back")],
}


def _opencv_photos() -> list[LabelledPhoto]:
    data = opencv_doc_dir()
    src, lic = "Debian opencv-doc: " + OPENCV_DOC_DATA + "/", OPENCV_DOC_LICENCE
    photos = []
    frames = _video_frames(data / "vtest.avi", set(VTEST))
    for i in (100, 300, 600):
        photos.append(LabelledPhoto(f"vtest_{i:04d}", frames[i], tuple(VTEST[i]),
                                    src + f"vtest.avi frame {i}", lic))
    # Frame 625 cropped to columns [110, 620): a woman cut by the left edge, the crossing
    # pair (vtD behind vtE) cut by the right edge.
    image, people = _crop(frames[625], VTEST[625], 110, 620)
    photos.append(LabelledPhoto("vtest_0625_crop", image, people,
                                src + "vtest.avi frame 625, columns 110-619", lic))
    b1 = _read(data / "basketball1.png")  # grayscale PNG, read as RGB
    bball = [_p((35, 78, 188, 480), "bb_catcher"),
             _p((433, 18, 640, 480), "bb_thrower", "edge", "back")]
    photos.append(LabelledPhoto("basketball1", b1, tuple(bball), src + "basketball1.png", lic))
    # basketball2 is the next frame: crop the catcher in half at the left edge.
    image, people = _crop(_read(data / "basketball2.png"), bball, 100, 640)
    photos.append(LabelledPhoto("basketball2_crop", image, people,
                                src + "basketball2.png, columns 100-639", lic))
    photos.append(LabelledPhoto("messi5", _read(data / "messi5.jpg"),
                                (_p((68, 58, 458, 336), "footballer"),), src + "messi5.jpg", lic,
                                notes="the blurred stadium crowd is not labelled"))
    return photos


def _skimage_photos() -> list[LabelledPhoto]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    return [LabelledPhoto("astronaut", _read(data / "astronaut.png"),
                          (_p((22, 14, 400, 512), "astronaut", "edge"),),
                          "scikit-image data/astronaut.png (Eileen Collins, NASA)",
                          "public domain"),
            LabelledPhoto("camera", _read(data / "camera.png"),
                          (_p((0, 64, 332, 512), "cameraman", "edge"),),
                          "scikit-image data/camera.png (Lav Varshney)", "CC0-1.0")]


def _face_recognition_photos() -> list[LabelledPhoto]:
    sys.path.insert(0, str(Path(__file__).parent))
    from photos import face_recognition_dir  # noqa: E402  (tests/photos.py, its pip download)

    try:
        folder = face_recognition_dir()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # photos.py skips through pytest.skip, a BaseException
        raise PhotosUnavailable(str(exc)) from exc
    src = "face_recognition 1.3.0 sdist (PyPI): tests/test_images/"
    lic = "MIT package; photos' own copyright varies: fetched at test time, never committed"
    labels = {
        "obama.jpg": (_p((45, 25, 850, 1137), "obama", "edge"),),
        "obama2.jpg": (_p((0, 150, 626, 1085), "obama", "edge"),
                       _p((0, 440, 195, 690), "obama2_left", "edge", "occluded"),
                       _p((482, 330, 626, 680), "obama2_right", "edge", "occluded")),
        "obama3.jpg": (_p((233, 210, 1223, 2333), "obama", "edge"),
                       _p((1283, 1120, 1434, 2010), "obama3_right", "edge")),
        "biden.jpg": (_p((35, 95, 970, 2204), "biden", "edge"),),
    }
    return [LabelledPhoto(Path(n).stem, _read(folder / n), people, src + n, lic)
            for n, people in labels.items()]


def people_set() -> list[LabelledPhoto]:
    """Every labelled photo; raises PhotosUnavailable when a source cannot be fetched."""
    return _opencv_photos() + _skimage_photos() + _face_recognition_photos()


def people_set_or_skip() -> list[LabelledPhoto]:
    """For tests: the set, or a clean skip that says which source is missing."""
    import pytest

    try:
        return people_set()
    except PhotosUnavailable as exc:
        pytest.skip(str(exc))


# -- files -----------------------------------------------------------------------------------

def labels_json(photos: list[LabelledPhoto]) -> dict:
    return {"tags": sorted(TAGS), "photos": [
        {"file": f"images/{p.name}.png", "name": p.name, "width": p.image.shape[1],
         "height": p.image.shape[0], "source": p.source, "licence": p.licence, "notes": p.notes,
         "people": [{"box": list(q.box), "identity": q.identity, "tags": sorted(q.tags)}
                    for q in p.people]} for p in photos]}


def write(out: Path, photos: list[LabelledPhoto]) -> None:
    """OUT/images/NAME.png, OUT/labels.json, and OUT/people/IDENTITY__NAME__K.png crops (a
    layout for ``--identity-pattern '^(.+?)__'``: one person per file, as in Market-1501)."""
    from PIL import Image

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "people").mkdir(parents=True, exist_ok=True)
    for p in photos:
        Image.fromarray(p.image).save(out / "images" / f"{p.name}.png")
        for k, q in enumerate(p.people):
            x1, y1, x2, y2 = q.box
            Image.fromarray(p.image[y1:y2, x1:x2]).save(
                out / "people" / f"{q.identity}__{p.name}__{k}.png")
    (out / "labels.json").write_text(json.dumps(labels_json(photos), indent=1))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python tests/people_set.py OUT_DIR", file=sys.stderr)
        return 2
    try:
        photos = people_set()
    except PhotosUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write(Path(argv[0]), photos)
    n = sum(len(p.people) for p in photos)
    print(f"wrote {len(photos)} photos, {n} labelled people to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
