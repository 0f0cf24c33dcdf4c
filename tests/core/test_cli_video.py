"""A video through `understudy anonymize`: same frame count, size and rate, audio kept (or
dropped with --no-audio), and the face hidden on every frame."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from understudy.cli import main
from understudy.perception.faces import CenterFaceDetector

av = pytest.importorskip("av")

FRAMES, FPS, SIZE = 12, 10, (320, 256)  # (width, height)


def make_clip(path: Path, astronaut: np.ndarray) -> None:
    """The astronaut sliding sideways, with a 440 Hz tone."""
    import cv2

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        base = cv2.resize(astronaut, (384, 384))
        for i in range(FRAMES):
            frame = np.ascontiguousarray(base[40:40 + SIZE[1], 4 * i:4 * i + SIZE[0]])
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        t = np.arange(int(16000 * FRAMES / FPS)) / 16000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for start in range(0, tone.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]),
                                               format="fltp", layout="mono")
            chunk.sample_rate = 16000
            chunk.pts = start
            for packet in audio.encode(chunk):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


def decode(path: Path) -> tuple[list[np.ndarray], bool, Fraction]:
    with av.open(str(path)) as container:
        has_audio = bool(container.streams.audio)
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return frames, has_audio, rate


@pytest.mark.parametrize("keep_audio", [True, False])
def test_video_round_trip_hides_faces(tmp_path, astronaut, keep_audio):
    src = tmp_path / "clip.mp4"
    make_clip(src, astronaut)
    before, _, _ = decode(src)
    detector = CenterFaceDetector()
    assert sum(len(detector(f)) for f in before) == FRAMES, "the clip should show a face on every frame"
    argv = ["anonymize", str(src), "-o", str(tmp_path / "out"), "--method", "maskout", "--quiet"]
    assert main(argv + ([] if keep_audio else ["--no-audio"])) == 0
    frames, has_audio, rate = decode(tmp_path / "out" / "clip.mp4")
    assert len(frames) == FRAMES and frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert rate == FPS and has_audio == keep_audio
    assert sum(len(detector(f)) for f in frames) == 0, "a face is still detectable"
    row = json.loads((tmp_path / "out" / "audit.jsonl").read_text())
    assert row["status"] == "ok" and row["frames"] == FRAMES
    assert row["counts"].get("face:replaced", 0) >= FRAMES
