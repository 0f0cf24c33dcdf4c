"""Video: frames stream through a method and come out with the same size, rate, timestamps
and audio; bad videos fail alone with a one-line reason. Clips are made here with PyAV."""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from understudy.errors import InputError
from understudy.io.files import TEMP_PREFIX
from understudy.io.video import probe_video, transcode

W, H, N, FPS = 64, 48, 20, 10


def frame_pixels(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i: a red left half and a grey level that encodes i (to check order)."""
    arr = np.full((h, w, 3), i * 10, np.uint8)  # i < 26
    arr[:, : w // 4] = (255, 0, 0)
    return arr


def frame_index(rgb: np.ndarray) -> int:
    return int(round(float(rgb[:, rgb.shape[1] // 2:].mean()) / 10))


def make_clip(path: Path, n: int = N, w: int = W, h: int = H, fps: int = FPS,
              audio: str | None = "aac", video: bool = True, pts: list[int] | None = None,
              rotation: int | None = None, metadata: dict | None = None) -> Path:
    """A tiny clip: H.264 (VP9 for .webm) video and a 440 Hz sine tone."""
    webm = path.suffix == ".webm"
    with av.open(str(path), "w") as out:
        for k, v in (metadata or {}).items():
            out.metadata[k] = v
        vs = None
        if video:
            vs = out.add_stream("libvpx-vp9" if webm else "libx264", rate=fps)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            if rotation is not None:
                vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream(audio, rate=48000)
            aus.layout = "mono"
        if vs is not None:
            for i in range(n):
                f = av.VideoFrame.from_ndarray(frame_pixels(i, w, h), format="rgb24")
                f.pts = pts[i] if pts else i
                f.time_base = Fraction(1, fps)
                out.mux(vs.encode(f))
            out.mux(vs.encode())
        if aus is not None:
            sr, total = 48000, int(48000 * n / fps)
            tone = (0.3 * np.sin(2 * math.pi * 440 * np.arange(total) / sr)).astype(np.float32)
            for s in range(0, total, 960):
                af = av.AudioFrame.from_ndarray(tone[None, s:s + 960], format="flt",
                                                layout="mono")
                af.sample_rate, af.pts = sr, s
                out.mux(aus.encode(af))
            out.mux(aus.encode())
    return path


def identity(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield from frames


def decoded(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        frames = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in c.decode(video=0)]
    return [f for f, _ in frames], [t for _, t in frames]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def test_round_trip_keeps_size_rate_frames_and_audio(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out" / "in.mp4"
    seen: list[np.ndarray] = []

    def process(frames):
        for f in frames:
            assert f.shape == (H, W, 3) and f.dtype == np.uint8
            seen.append(f)
            yield 255 - f

    info = transcode(src, dst, process)
    assert (info.width, info.height, info.frames, info.fps) == (W, H, N, FPS)
    assert info.has_audio and info.audio_codec == "aac"
    probe = probe_video(dst)
    assert (probe.width, probe.height, probe.fps, probe.frames) == (W, H, FPS, N)
    assert probe.has_audio and probe.codec == "h264"
    frames, times = decoded(dst)
    _, src_times = decoded(src)
    assert len(frames) == N and times == src_times
    # The method's output is what got encoded (inverted), within codec error.
    for f, s in zip(frames, seen):
        assert np.abs(f.astype(int) - (255 - s.astype(int))).mean() < 4
    # Audio packets copied bit for bit, not re-encoded.
    assert audio_packets(dst) == audio_packets(src)
    assert not [n for n in os.listdir(dst.parent) if n.startswith(TEMP_PREFIX)]


def test_no_audio_when_asked(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4")
    info = transcode(src, tmp_path / "out.mp4", identity, keep_audio=False)
    assert not info.has_audio
    probe = probe_video(tmp_path / "out.mp4")
    assert not probe.has_audio and probe.frames == N


def test_process_may_hold_frames_back(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4", n=24)
    handed: list[int] = []

    def lagging(frames):
        window: deque[np.ndarray] = deque()
        for f in frames:
            handed.append(frame_index(f))
            window.append(f)
            if len(window) > 5:  # a tracker looking 5 frames ahead
                yield window.popleft()
        while window:
            yield window.popleft()

    info = transcode(src, tmp_path / "out.mp4", lagging)
    frames, _ = decoded(tmp_path / "out.mp4")
    assert info.frames == 24 and len(frames) == 24
    assert handed == list(range(24))
    assert [frame_index(f) for f in frames] == list(range(24))


def test_variable_frame_timestamps_are_kept(tmp_path: Path):
    pts = [0, 1, 2, 4, 5, 9, 10, 11, 15, 16]
    src = make_clip(tmp_path / "vfr.mp4", n=len(pts), pts=pts, audio=None)
    transcode(src, tmp_path / "out.mp4", identity)
    _, times = decoded(tmp_path / "out.mp4")
    assert times == pytest.approx([p / FPS for p in pts])


@pytest.mark.parametrize("ext,vcodec,acodec", [("mkv", "h264", "aac"), ("mov", "h264", "aac"),
                                               ("avi", "mpeg4", "aac"),
                                               ("webm", "vp9", "opus")])
def test_containers(tmp_path: Path, ext, vcodec, acodec):
    src = make_clip(tmp_path / "in.mp4")
    dst = tmp_path / f"out.{ext}"
    info = transcode(src, dst, identity)
    probe = probe_video(dst)
    assert (probe.width, probe.height, probe.fps) == (W, H, FPS)
    assert probe.codec == vcodec and probe.audio_codec == acodec and info.frames == N
    frames, _ = decoded(dst)
    assert [frame_index(f) for f in frames] == list(range(N))
    if ext != "webm":
        assert audio_packets(dst) == audio_packets(src)  # copied, not re-encoded


def test_audio_reencoded_only_when_container_refuses_it(tmp_path: Path):
    # WebM takes Opus: copied. MP4 takes Opus too; AVI cannot hold Opus: AAC.
    src = make_clip(tmp_path / "in.webm", audio="libopus")
    transcode(src, tmp_path / "same.webm", identity)
    assert audio_packets(tmp_path / "same.webm") == audio_packets(src)
    info = transcode(src, tmp_path / "out.avi", identity)
    assert info.audio_codec == "aac"
    with av.open(str(tmp_path / "out.avi")) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].sample_rate
    assert abs(samples / rate - N / FPS) < 0.1  # the whole tone survived re-encoding


@pytest.mark.parametrize("ext", ["mp4", "webm", "avi"])
def test_odd_sizes(tmp_path: Path, ext):
    # libx264 cannot take odd sizes in 4:2:0, so make the source with VP9 in MKV.
    with av.open(str(tmp_path / "odd.mkv"), "w") as out:
        vs = out.add_stream("libvpx-vp9", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = 65, 47, "yuv420p"
        for i in range(6):
            f = av.VideoFrame.from_ndarray(frame_pixels(i, 65, 47), format="rgb24")
            f.pts = i
            out.mux(vs.encode(f))
        out.mux(vs.encode())
    src = tmp_path / "odd.mkv"
    info = transcode(src, tmp_path / f"out.{ext}", identity)
    assert (info.width, info.height) == (65, 47)
    frames, _ = decoded(tmp_path / f"out.{ext}")
    assert len(frames) == 6 and frames[0].shape == (47, 65, 3)


def test_rotated_phone_video_is_made_upright(tmp_path: Path):
    src = make_clip(tmp_path / "rot.mp4", rotation=90, audio=None)
    info = probe_video(src)
    assert (info.width, info.height, info.rotation) == (H, W, 90)
    seen = []

    def process(frames):
        for f in frames:
            seen.append(f)
            yield f

    out = transcode(src, tmp_path / "out.mp4", process)
    assert seen[0].shape == (W, H, 3) and (out.width, out.height) == (H, W)
    # Counter-clockwise 90: the red left quarter of the stored frame is now at the bottom.
    assert seen[0][-8:, :, 0].mean() > 200 and seen[0][:8, :, 0].mean() < 30
    with av.open(str(tmp_path / "out.mp4")) as c:
        first = next(c.decode(video=0))
        assert first.rotation == 0 and (first.width, first.height) == (H, W)


def test_container_metadata_not_copied(tmp_path: Path):
    meta = {"title": "SECRET title", "location": "+48.8566+002.3522/", "comment": "SECRET",
            "artist": "SECRET person"}
    src = make_clip(tmp_path / "meta.mp4", metadata=meta)
    with av.open(str(src)) as c:
        assert c.metadata.get("title") == "SECRET title"  # the input really has it
    dst = tmp_path / "out.mp4"
    transcode(src, dst, identity)
    with av.open(str(dst)) as c:
        everything = dict(c.metadata)
        for s in c.streams:
            everything.update(s.metadata)
    assert not any("SECRET" in str(v) or "48.8566" in str(v) for v in everything.values())
    assert b"SECRET" not in dst.read_bytes() and b"48.8566" not in dst.read_bytes()


def test_process_must_yield_one_frame_per_frame(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"

    def drops_one(frames):
        for i, f in enumerate(frames):
            if i != 3:
                yield f

    with pytest.raises(RuntimeError, match="one per frame"):
        transcode(src, dst, drops_one)
    assert os.listdir(tmp_path) == ["in.mp4"]  # no output, no temp file

    def one_extra(frames):
        for f in frames:
            yield f
        yield f

    with pytest.raises(RuntimeError, match="more frames"):
        transcode(src, dst, one_extra)
    assert os.listdir(tmp_path) == ["in.mp4"]


# --- bad input -----------------------------------------------------------------------------

def fails(path: Path, match: str) -> None:
    for call in (lambda: probe_video(path),
                 lambda: transcode(path, path.parent / "never.mp4", identity)):
        with pytest.raises(InputError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg and match in msg, msg
    assert not (path.parent / "never.mp4").exists()


def test_audio_only_file(tmp_path: Path):
    src = make_clip(tmp_path / "voice.mp4", video=False)
    fails(src, "no video stream")


def test_zero_byte_video(tmp_path: Path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    fails(p, "empty file")


def test_text_named_mp4(tmp_path: Path):
    p = tmp_path / "notes.mp4"
    p.write_text("not a video\n" * 50)
    fails(p, "not a readable video")


def test_truncated_video(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4")
    data = src.read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 3])  # mp4 keeps its index (moov) at the end
    with pytest.raises(InputError) as info:
        probe_video(p)
    assert str(p) in str(info.value)


def test_symlink_loop_video(tmp_path: Path):
    p = tmp_path / "loop.mp4"
    os.symlink("loop.mp4", p)
    fails(p, "symlink loop")


def test_unreadable_video(tmp_path: Path, monkeypatch):
    import builtins

    src = make_clip(tmp_path / "locked.mp4", audio=None)
    if os.geteuid() != 0:
        src.chmod(0)
        try:
            fails(src, "permission denied")
        finally:
            src.chmod(0o644)
        return
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if str(file) == str(src):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    fails(src, "permission denied")


def test_spaces_and_unicode_in_video_paths(tmp_path: Path):
    folder = tmp_path / "vidéos d'été ✓"
    folder.mkdir()
    src = make_clip(folder / "Zoë 写真 1.mp4")
    info = transcode(src, tmp_path / "sortie ü" / "Zoë 写真 1.mp4", identity)
    assert info.frames == N and info.has_audio
