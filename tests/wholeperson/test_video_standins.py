"""Issue 20's acceptance on a real street clip: one steady stand-in per person.

30 frames (3 s) of opencv-doc's ``vtest.avi`` (768x576, 10 fps, 6-8 walkers 60-120 px tall),
frames 500-529, a stretch the tracker and its thresholds were not tuned on (those were
100-119 and 300-329). `understudy anonymize --method refsd` in render mode, then the
evaluation's video check (``understudy.evaluation.video``): person-frames replaced, flicker
(alternations between a stand-in and a mask), and moving people left visible by an
independent motion check that uses no detector. About 3.5 minutes on 2 cores.

The rule that a weak box needs a pose that is a body in it (``perception/assemble.py:
_vouches``) was written after looking at this stretch's masked finds (a traffic cone), with
the assembler's existing thresholds. So a second stretch, frames 650-679, is measured too. It
was held out until it fell short (87.1 % replaced, 4 alternations); the two rules then written
for it (a box over a group is no one, ``assemble._group_boxes``; a weak second find
anchors no gap filling, ``tracking.Tracker._fill``) were then checked on three stretches
nobody had looked at (150-179, 410-439, 600-629; benchmarks/RESULTS.md).

The motion check's empty street is the median of the whole ``vtest.avi`` (every 8th of its
795 frames), not of these 30: a man stands still for most of frames 500-529, so their median
holds him, and the pavement beside where he settles read as a moving person left visible on
frames 0-3 (4 false alarms). The evaluation builds its median from the clip it is given;
with the clip's own source at hand, the test gives it the longer one. No detector is
involved either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from people_set import PhotosUnavailable, _video_frames, opencv_doc_dir, write_street_clip

pytestmark = pytest.mark.slow
FIRST, COUNT = 500, 30
WHOLE_CLIP, EMPTY_STEP = 795, 8  # vtest.avi's frames; every 8th builds the empty street


def anonymize_clip(root: Path, first: int, methods: tuple[str, ...]) -> Path:
    (root / "orig").mkdir()
    try:
        write_street_clip(root / "orig" / "street.mp4", first, COUNT)
    except PhotosUnavailable as exc:
        pytest.skip(str(exc))
    cli = [sys.executable, "-m", "understudy"]
    for method in methods:
        subprocess.run(cli + ["anonymize", str(root / "orig"), "-o", str(root / method),
                              "--method", method, "--target", "people", "--seed", "2"],
                       check=True, capture_output=True, env=dict(os.environ))
    return root


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return anonymize_clip(tmp_path_factory.mktemp("video"), FIRST, ("refsd", "maskout"))


@pytest.fixture(scope="module")
def empty(outputs) -> np.ndarray:
    """The empty street: the per-pixel median of every 8th frame of the whole source video."""
    frames = _video_frames(opencv_doc_dir() / "vtest.avi", set(range(0, WHOLE_CLIP, EMPTY_STEP)))
    return np.median(np.stack(list(frames.values())), axis=0).astype(np.uint8)


def check(root: Path, method: str, empty: np.ndarray):
    from understudy.evaluation import video
    from understudy.evaluation.dataset import read_audit

    rows = read_audit(root / method, root / "orig", ["street.mp4"])
    with mock.patch.object(video, "empty_scene", lambda _clip: empty):
        return video.check_video(root / "orig" / "street.mp4", root / method / "street.mp4",
                                 rows["street.mp4"], "street.mp4")


def test_stand_ins_hold_along_their_tracks(outputs, empty):
    """What holds today, so a regression shows: before tracks lent their sure frames and
    poses to their weak ones, 59 % of the person-frames of frames 100-119 were replaced, with
    22 alternations in 20 frames; and mask-out, whose masks had no margin, left 15 of these
    138 moving blobs visible (feet and legs beside the fill)."""
    result = check(outputs, "refsd", empty)
    assert result.frames == COUNT and result.person_frames >= 6 * COUNT
    assert result.replaced >= 0.88 * result.person_frames, result
    assert result.alternations <= 2, result
    for method in ("refsd", "maskout"):
        assert check(outputs, method, empty).left_visible <= 6, method


def test_refsd_replaces_95_percent_of_person_frames(outputs, empty):
    """247 of 257 (96.1 %). The 10 masked are weak finds no detector scores sure on any frame:
    a tripod MediaPipe poses as a whole body, a box on the pavement and a face-sized seed,
    failing closed. Before weak boxes needed a pose that is a body in them, a traffic cone
    was kept as well: 247 of 269 (91.8 %)."""
    result = check(outputs, "refsd", empty)
    assert result.replaced >= 0.95 * result.person_frames, result


def test_no_alternations(outputs, empty):
    """Before the tracker carried people through the frame's edge and weak duplicate finds
    joined their sure person, a weak find inside another's stand-in was masked as they
    separated (1 alternation on this stretch, 22 on frames 100-119 before the track rules)."""
    assert check(outputs, "refsd", empty).alternations == 0


@pytest.mark.parametrize("method", ["refsd", "maskout"])
def test_no_moving_person_is_left_visible(outputs, method, empty):
    """The independent check: moving blobs of the original (no detector involved). Against
    the clip's own median, RefSD's 4 "visible" blobs on frames 0-3 were pavement beside a man
    who stands still for most of the clip; against the whole video's median, none (see the
    module doc)."""
    result = check(outputs, method, empty)
    assert result.static_camera and result.moving_blobs >= 3 * COUNT, result
    assert result.left_visible == 0, result


# A second stretch, frames 650-679 (see the module doc).
HELD_OUT = 650


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    return anonymize_clip(tmp_path_factory.mktemp("held_out"), HELD_OUT, ("refsd",))


def test_held_out_stretch_leaves_no_moving_person_visible(held_out, empty):
    result = check(held_out, "refsd", empty)
    assert result.static_camera and result.moving_blobs >= 3 * COUNT, result
    assert result.left_visible == 0, result


def test_held_out_stretch_replaces_95_percent(held_out, empty):
    """271 of 282 (96.1 %): 5 fewer person-frames since a face seed's pose must stand under its
    face (the phantom on a black bag by the tripod). Before that 276 of 287 (96.2 %). Before
    the two rules: 276 of 317 (87.1 %), the rest two weak COCO
    SSD boxes as wide as the street (14 masked, 10 skipped) and a weak track linked from a
    walker's second finds six frames apart, drifting between walkers (10 masked). Masked still:
    a weak box on a gate at the right edge (7) and the frame-13 find of a walker's leg (4)."""
    result = check(held_out, "refsd", empty)
    assert result.replaced >= 0.95 * result.person_frames, result


def test_held_out_stretch_has_no_alternations(held_out, empty):
    """Before: 4, all on the street-wide boxes (masked while their own segmentation away from
    the walkers held pixels, skipped when it held none)."""
    assert check(held_out, "refsd", empty).alternations == 0
