"""The evaluation's video check: moving people left visible, found without any detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from understudy.evaluation.video import check_video, summarize

SIZE = (96, 128)  # h, w


def walker(t: int) -> tuple[int, int, int, int]:
    x = 10 + 8 * t
    return x, 30, x + 14, 70  # a 40 px tall figure crossing the frame


def write(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        stream.options = {"crf": "10"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def scene(t: int, paint=None) -> np.ndarray:
    image = np.full((*SIZE, 3), (90, 140, 90), np.uint8)  # grass
    image[:, :, 0] += (np.arange(SIZE[1]) // 4).astype(np.uint8)  # some texture
    x0, y0, x1, y1 = walker(t)
    image[y0:y1, x0:x1] = (200, 60, 40) if paint is None else paint
    return image


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    frames = range(12)
    write(root / "orig.mp4", [scene(t) for t in frames])
    write(root / "standin.mp4", [scene(t, paint=(60, 60, 200)) for t in frames])
    write(root / "masked.mp4", [scene(t, paint=(0, 0, 0)) for t in frames])
    # Covered on every frame but one: the check names that frame.
    write(root / "missed.mp4", [scene(t, paint=None if t == 7 else (60, 60, 200)) for t in frames])
    # Covered, and a black box drawn on the empty lawn on frames 4-6 (a weak false find).
    write(root / "phantom.mp4", [phantom(scene(t, paint=(60, 60, 200)), t) for t in frames])
    return root


def phantom(image: np.ndarray, t: int) -> np.ndarray:
    if t in (4, 5, 6):
        image[72:92, 100 + 2 * t:116 + 2 * t] = 0
    return image


def test_what_is_drawn_where_nothing_moves(clips):
    """A stand-in over the walker draws nothing where nothing moves; a black box on the empty
    lawn does, on the frames it is there."""
    standin = check_video(clips / "orig.mp4", clips / "standin.mp4", None, "v")
    box = check_video(clips / "orig.mp4", clips / "phantom.mp4", None, "v")
    assert standin.drawn_still < 0.05 and standin.left_visible == 0
    # 3 frames of a 20x16 box over 12 frames of about 10,000 still pixels each.
    assert 0.5 < box.drawn_still < 1.5 and box.most_drawn_frame in (4, 5, 6)
    assert box.left_visible == 0
    assert summarize([standin, box])["drawn_still"] == pytest.approx(
        (standin.drawn_still + box.drawn_still) / 2)


def test_every_moving_person_covered_or_not(clips):
    audit = {"counts": {"person:replaced": 11, "person:masked": 1},
             "tracks": [{"kind": "person", "track_id": 1, "alternations": 2}]}
    standin = check_video(clips / "orig.mp4", clips / "standin.mp4", audit, "v")
    assert standin.frames == 12 and standin.moving_blobs >= 10 and standin.static_camera
    assert standin.left_visible == 0 and standin.visible_pixels < 5
    assert (standin.person_frames, standin.replaced, standin.alternations) == (12, 11, 2)
    masked = check_video(clips / "orig.mp4", clips / "masked.mp4", None, "v")
    assert masked.left_visible == 0
    same = check_video(clips / "orig.mp4", clips / "orig.mp4", None, "v")
    assert same.left_visible == same.moving_blobs and same.visible_pixels == 100
    missed = check_video(clips / "orig.mp4", clips / "missed.mp4", None, "v")
    assert missed.left_visible == 1 and missed.worst_frame == 7
    table = summarize([standin, missed])
    assert table["videos"] == 2 and table["left_visible"] == 1


def test_evaluate_reports_videos_in_a_folder_of_videos_only(clips, tmp_path):
    from understudy.evaluation.api import evaluate

    orig, anon = tmp_path / "orig", tmp_path / "anon"
    orig.mkdir(), anon.mkdir()
    (orig / "walk.mp4").write_bytes((clips / "orig.mp4").read_bytes())
    (anon / "walk.mp4").write_bytes((clips / "missed.mp4").read_bytes())
    (anon / "audit.jsonl").write_text(json.dumps({
        "output": "walk.mp4", "status": "ok", "counts": {"person:replaced": 12},
        "tracks": [{"kind": "person", "track_id": 1, "alternations": 0}]}) + "\n")
    report = evaluate(orig, {"standin": anon}, tmp_path / "report", progress=False)
    video = report["methods"]["standin"]["video"]
    assert video["left_visible"] == 1 and video["replaced_share"] == 100
    assert report["videos"][0]["worst_frame"] == 7
    assert "steady stand-ins" in (tmp_path / "report" / "report.html").read_text()
