"""Video in, video out: decode with PyAV, stream frames through a method, re-encode.

Frames reach the method as ``(H, W, 3) uint8`` RGB, upright (a phone's display-matrix
rotation is applied, as EXIF orientation is for photos), one at a time, so memory stays
flat whatever the length. The output keeps the size, the frame rate and every frame's
timestamp; the audio packets are copied untouched unless the container cannot hold their
codec. Nothing else is carried over: container and stream metadata (titles, GPS
``location``, creation times, device names), cover art, subtitles and data streams (camera
GPS/telemetry tracks) are dropped, since any of them can identify a person.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from understudy.errors import InputError
from understudy.io.files import atomic_write, describe_os_error

# Output container and video encoder per extension. H.264 plays nearly everywhere; WebM
# only takes VP8/VP9/AV1; AVI players expect MPEG-4 Part 2.
CONTAINERS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
    ".avi": ("avi", "mpeg4"),
}
# When the source audio codec cannot go into the output container, re-encode to this.
AUDIO_FALLBACK = {"webm": "libopus"}
DEFAULT_AUDIO = "aac"


@dataclass
class VideoInfo:
    """What a video holds. ``width``/``height`` are the upright (displayed) size, after
    ``rotation`` (degrees counter-clockwise stored in the file) is applied."""

    width: int
    height: int
    fps: float
    frames: int | None
    has_audio: bool
    codec: str
    rotation: int = 0
    audio_codec: str | None = None


def _av():
    import av

    return av


def _fail(path: Path, reason: str) -> InputError:
    return InputError(f"{path}: {reason}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_input(path: Path):
    """Open for reading, turning every way it can fail into a one-line InputError."""
    av = _av()
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _fail(path, describe_os_error(exc)) from None
    if st.st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    try:
        # Opening the file ourselves gives the same PermissionError as images do.
        with open(path, "rb"):
            pass
        return av.open(str(path), metadata_errors="ignore")
    except OSError as exc:
        if isinstance(exc, av.FFmpegError):
            raise _fail(path, f"not a readable video ({_short(exc)})") from None
        raise _fail(path, describe_os_error(exc)) from None
    except av.FFmpegError as exc:
        raise _fail(path, f"not a readable video ({_short(exc)})") from None


def _rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)  # a stream that states no rate at all: the PAL default


def _rotation_k(rotation: int) -> int:
    """Quarter turns for np.rot90 (counter-clockwise) that make a frame upright."""
    return int(round(rotation / 90.0)) % 4


def main_video_stream(container):
    """The first real video stream; cover art (an "attached picture" stream, possibly a
    photo of a person) does not count and is never copied."""
    attached = _av().stream.Disposition.attached_pic
    for stream in container.streams.video:
        if not int(stream.disposition) & int(attached):
            return stream
    return None


def probe_video(path: Path) -> VideoInfo:
    """Read a video's header and decode its first frame (which proves it is decodable and
    gives the display rotation). InputError when there is no video stream or it is unreadable."""
    av = _av()
    path = Path(path)
    container = _open_input(path)
    with container:
        stream = main_video_stream(container)
        if stream is None:
            audio = len(container.streams.audio)
            what = f"only {audio} audio stream(s)" if audio else "no moving-picture streams"
            raise _fail(path, f"no video stream ({what})")
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.FFmpegError as exc:
            raise _fail(path, f"video cannot be decoded ({_short(exc)})") from None
        if first is None:
            raise _fail(path, "video stream has no decodable frames")
        rotation = int(first.rotation or 0)
        width, height = first.width, first.height
        if _rotation_k(rotation) % 2:
            width, height = height, width
        return VideoInfo(
            width=width, height=height, fps=float(_rate(stream)),
            frames=int(stream.frames) or None,
            has_audio=bool(container.streams.audio), codec=stream.codec_context.name,
            rotation=rotation,
            audio_codec=container.streams.audio[0].codec_context.name
            if container.streams.audio else None,
        )


def _video_stream(out, codec: str, info: VideoInfo, rate: Fraction, in_time_base: Fraction):
    stream = out.add_stream(codec, rate=rate)
    stream.width, stream.height = info.width, info.height
    # libx264 needs even sizes for 4:2:0; odd ones go 4:4:4 to keep the exact size.
    odd = info.width % 2 or info.height % 2
    stream.pix_fmt = "yuv444p" if codec == "libx264" and odd else "yuv420p"
    if codec == "mpeg4":
        # AVI counts frames, not clock ticks: a fine time base would read back as a
        # thousands-fps stream of mostly dropped frames. (MPEG-4 Part 2 also caps the
        # time-base denominator at 65535.)
        time_base = 1 / rate
    else:
        time_base = in_time_base
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if codec == "libx264":
        # Visually lossless (40.9 dB PSNR on opencv-doc's street video, 0.75 dB under crf 18
        # "medium", files 2 % larger) at 0.37x medium's CPU: on 2 cores the encoder shares the
        # CPU with perception, and medium took 32 ms a 768x576 frame (benchmarks/RESULTS.md).
        stream.options = {"crf": "16", "preset": "veryfast"}
    elif codec == "libvpx-vp9":
        stream.options = {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4",
                          "row-mt": "1"}
    else:
        stream.bit_rate = int(max(1_000_000, info.width * info.height * float(rate) * 0.3))
    for key in list(stream.metadata):
        del stream.metadata[key]
    return stream


def _audio_stream(out, in_audio, container_format: str):
    """A copy of the input audio stream if the container takes its codec, else an encoder.
    Returns (stream, copy)."""
    try:
        stream = out.add_stream_from_template(in_audio)
        copy = True
    except ValueError:
        codec = AUDIO_FALLBACK.get(container_format, DEFAULT_AUDIO)
        ctx = in_audio.codec_context
        rate = ctx.sample_rate if codec != "libopus" else 48000  # Opus runs at 48 kHz
        stream = out.add_stream(codec, rate=rate)
        stream.layout = ctx.layout.name if ctx.layout.nb_channels <= 2 else "stereo"
        copy = False
    for key in list(stream.metadata):
        del stream.metadata[key]
    return stream, copy


def transcode(src: Path, dst: Path,
              process: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]],
              keep_audio: bool = True) -> VideoInfo:
    """Decode ``src``, pass its frames through ``process`` and write ``dst`` atomically.

    ``process`` maps an iterator of ``(H, W, 3) uint8`` RGB frames to an iterator of frames
    of the same shape, exactly one per input frame and in order; it may hold some back
    (tracking, temporal smoothing). Returns what was written.
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    suffix = dst.suffix.lower()
    if suffix not in CONTAINERS:
        raise ValueError(f"cannot write video {dst}: extension {suffix!r} not one of "
                         f"{', '.join(sorted(CONTAINERS))}")
    container_format, codec = CONTAINERS[suffix]
    info = probe_video(src)
    written: dict[str, object] = {}

    def write(tmp: Path) -> None:
        # AVI stores no negative timestamps; by default the muxer shifts the streams when
        # copied AAC's priming packet (dts < 0) arrives, which opens a one-frame gap after
        # the first video frame. AVI audio is positioned by sample count, so leave it be.
        options = {"avoid_negative_ts": "disabled"} if container_format == "avi" else {}
        with _open_input(src) as inp, \
                av.open(str(tmp), "w", format=container_format, options=options) as out:
            in_video = main_video_stream(inp)
            in_video.thread_type = "AUTO"
            rate = _rate(in_video)
            out_video = _video_stream(out, codec, info, rate, Fraction(in_video.time_base))
            out_tb = Fraction(out_video.time_base)
            in_audio = inp.streams.audio[0] if keep_audio and inp.streams.audio else None
            out_audio, copy_audio = (_audio_stream(out, in_audio, container_format)
                                     if in_audio is not None else (None, False))
            k = _rotation_k(info.rotation)
            step = max(1, round(1 / (rate * out_tb)))  # one frame, in output ticks
            pending: deque[int] = deque()  # timestamps of frames handed to process, in order
            counts = {"in": 0, "out": 0, "last_pts": None}

            def next_pts(frame) -> int:
                last = counts["last_pts"]
                if frame.pts is None or frame.time_base is None:
                    pts = 0 if last is None else last + step
                else:
                    pts = round(Fraction(frame.pts) * Fraction(frame.time_base) / out_tb)
                if last is not None and pts <= last:
                    pts = last + 1  # encoders need strictly increasing timestamps
                counts["last_pts"] = pts
                return pts

            def mux_audio(packet) -> None:
                if packet.dts is None:  # demux's end-of-stream flush packet
                    if not copy_audio:
                        for frame in packet.decode():
                            out.mux(out_audio.encode(frame))
                    return
                if copy_audio:
                    packet.stream = out_audio
                    out.mux(packet)
                else:
                    for frame in packet.decode():
                        out.mux(out_audio.encode(frame))

            def frames() -> Iterator[np.ndarray]:
                streams = [in_video] + ([in_audio] if in_audio is not None else [])
                try:
                    for packet in inp.demux(*streams):
                        if packet.stream.type == "audio":
                            mux_audio(packet)
                            continue
                        for frame in packet.decode():
                            pending.append(next_pts(frame))
                            counts["in"] += 1
                            rgb = frame.to_ndarray(format="rgb24")
                            if k:
                                rgb = np.ascontiguousarray(np.rot90(rgb, k))
                            yield rgb
                except av.FFmpegError as exc:
                    raise _fail(src, f"video decoding failed at frame {counts['in']} "
                                     f"({_short(exc)})") from None

            shape = (info.height, info.width, 3)
            for rgb in process(frames()):
                if not pending:
                    raise RuntimeError("process() yielded more frames than it was given")
                if rgb.shape != shape or rgb.dtype != np.uint8:
                    raise ValueError(f"process() must yield {shape} uint8 frames, "
                                     f"got {rgb.shape} {rgb.dtype}")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = pending.popleft()
                frame.time_base = out_tb
                out.mux(out_video.encode(frame))
                counts["out"] += 1
            if pending or counts["out"] != counts["in"]:
                raise RuntimeError(f"process() yielded {counts['out']} frames for "
                                   f"{counts['in']} input frames; it must yield one per frame")
            out.mux(out_video.encode(None))
            if out_audio is not None and not copy_audio:
                out.mux(out_audio.encode(None))
            written.update(frames=counts["out"], audio=out_audio is not None,
                           audio_codec=out_audio.codec_context.name if out_audio else None)

    atomic_write(dst, write)
    return VideoInfo(width=info.width, height=info.height, fps=info.fps,
                     frames=int(written["frames"]), has_audio=bool(written["audio"]),
                     codec=codec, rotation=0, audio_codec=written["audio_codec"])
