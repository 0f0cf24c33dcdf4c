"""Videos in the evaluation: how steady the stand-ins are, and an independent check that every
moving person was covered on every frame.

Two sources, one of which the anonymizer never sees:

* **the audit row** of each anonymized video: person-frames replaced and masked, and the
  alternations per track (a track switching between a stand-in and a masked figure on
  consecutive frames, the flicker a viewer sees; see ``understudy.run.local.VideoTally``);
* **motion in the original**, found without any detector: the clip's per-pixel median is the
  empty scene (a static camera is assumed, and said when it does not hold), and what differs
  from it by more than ``MOTION_LEVELS`` in person-sized blobs is a moving thing. A blob whose
  pixels are mostly unchanged in the output (within ``SAME_LEVELS``) was left as it was: a
  walker the detectors missed on that frame, or the part of one a stand-in does not cover.
  A pixel near-black in both the original and the output (dark clothing, or the mask-out
  fill over it) cannot tell the two apart and is left out of the count.

  The check errs on the strict side in one known way: someone who stands still for most of
  the clip is part of the empty scene, so on the frames before they settle, the pavement
  beside where they will stand reads as motion; an output that shows pavement there (as
  inpainting does) is counted as leaving it visible.

  The other way round, **drawn where nothing moves** is the share of the still pixels (those
  at least ``STILL_MARGIN`` of the frame's diagonal from any moving pixel) that the output
  changed by more than ``DRAWN_LEVELS``: a stand-in flown over an empty road by a track
  that jumped to someone else, a black box on a traffic cone, a blur over grass. Covering
  every moving person says nothing about these; a viewer sees them at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from understudy.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
# A pixel moves when it differs from the empty scene by this many grey levels (any channel):
# above H.264's noise on the street clip of opencv-doc (2-12 levels), below a walker's contrast.
MOTION_LEVELS = 30
# An output pixel is the original's when within this many levels (compression noise).
SAME_LEVELS = 12
# The mask-out fill after video compression.
FILL_LEVELS = 24
# A moving blob smaller than this share of the frame is noise (a flag, a leaf): at 768x576 it
# is 442 px, a walker 40 px tall.
MIN_BLOB_SHARE = 0.001
# A blob is left visible when at least this share of its pixels is unchanged.
VISIBLE_SHARE = 0.5
# Frames read to build the empty scene (evenly spaced).
MEDIAN_FRAMES = 60
# The camera is taken to move when the median frame has more than this share moving.
MOVING_CAMERA_SHARE = 0.3
# Still pixels lie this share of the frame's diagonal from any moving pixel (15 px at
# 768x576): a stand-in's outline and the inpainted ring around a person stay inside it.
STILL_MARGIN = 0.016
# A still pixel is drawn over when the output moved it by more than this many levels.
DRAWN_LEVELS = 40


@dataclass
class VideoCheck:
    """One anonymized video against its original."""

    video: str
    frames: int
    person_frames: int  # from the audit
    replaced: int
    masked: int
    alternations: int
    tracks: int
    moving_blobs: int  # person-sized moving blobs in the original, over all frames
    left_visible: int  # of them, mostly unchanged in the output
    visible_pixels: float  # % of all moving pixels unchanged in the output
    worst_frame: int | None  # the frame with the most moving pixels left, if any
    static_camera: bool
    drawn_still: float = 0.0  # % of the still pixels (far from any motion) changed
    most_drawn_frame: int | None = None  # the frame with the most still pixels changed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """RGB frames of a video, in order (rotation as stored: both sides read the same way)."""
    import av

    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: cannot read the video ({exc})") from None


def empty_scene(path: Path) -> np.ndarray:
    """The per-pixel median of up to ``MEDIAN_FRAMES`` evenly spaced frames (only those are
    kept in memory: a long clip is not held whole)."""
    from understudy.io.video import probe_video

    step = max(1, (probe_video(path).frames or 0) // MEDIAN_FRAMES)
    frames = [f for i, f in enumerate(read_frames(path)) if i % step == 0]
    if not frames:
        raise InputError(f"{path}: the video has no frames")
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def moving_pixels(frame: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Pixels of ``frame`` that differ from the empty scene by more than ``MOTION_LEVELS``."""
    return np.abs(frame.astype(np.int16) - empty).max(axis=-1) > MOTION_LEVELS


def moving_blobs(moving: np.ndarray) -> list[np.ndarray]:
    """Masks of the person-sized blobs of a frame's ``moving_pixels``."""
    import cv2

    moving = moving.astype(np.uint8)
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    floor = MIN_BLOB_SHARE * moving.shape[0] * moving.shape[1]
    return [labels == i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= floor]


def check_video(original: Path, anonymized: Path, audit: dict[str, Any] | None,
                name: str) -> VideoCheck:
    """Compare ``anonymized`` with ``original`` frame by frame (see the module doc)."""
    empty = empty_scene(original)
    blobs = visible_blobs = 0
    moving_px = unchanged_px = 0
    worst, worst_px = None, 0
    still_px = drawn_px = 0
    most_drawn, most_drawn_px = None, 0
    frames = 0
    static = True
    for index, (a, b) in enumerate(zip(read_frames(original), read_frames(anonymized))):
        frames += 1
        if a.shape != b.shape:
            raise InputError(f"{anonymized}: frame {index} is {b.shape[1]}x{b.shape[0]}, "
                             f"the original's is {a.shape[1]}x{a.shape[0]}")
        diff = np.abs(a.astype(np.int16) - b).max(axis=-1)
        same = diff <= SAME_LEVELS
        moving = moving_pixels(a, empty)
        still = still_pixels(moving)
        drawn = int((still & (diff > DRAWN_LEVELS)).sum())
        still_px += int(still.sum())
        drawn_px += drawn
        if drawn > most_drawn_px:
            most_drawn, most_drawn_px = index, drawn
        telling = (a.max(axis=-1) > FILL_LEVELS) | (b.max(axis=-1) > FILL_LEVELS)
        found = moving_blobs(moving)
        area = sum(int(m.sum()) for m in found)
        if area > MOVING_CAMERA_SHARE * a.shape[0] * a.shape[1]:
            static = False
        left_here = 0
        for mask in found:
            blobs += 1
            seen = mask & telling
            left = int((same & seen).sum())
            moving_px += int(seen.sum())
            unchanged_px += left
            left_here += left
            if left and left >= VISIBLE_SHARE * seen.sum():
                visible_blobs += 1
        if left_here > worst_px:
            worst, worst_px = index, left_here
    counts = (audit or {}).get("counts", {})
    tracks = [t for t in (audit or {}).get("tracks", []) if t.get("kind") == "person"]
    return VideoCheck(
        video=name, frames=frames,
        person_frames=sum(n for k, n in counts.items() if k.startswith("person:")),
        replaced=int(counts.get("person:replaced", 0)), masked=int(counts.get("person:masked", 0)),
        alternations=sum(int(t.get("alternations", 0)) for t in tracks), tracks=len(tracks),
        moving_blobs=blobs, left_visible=visible_blobs,
        visible_pixels=100.0 * unchanged_px / moving_px if moving_px else 0.0,
        worst_frame=worst, static_camera=static,
        drawn_still=100.0 * drawn_px / still_px if still_px else 0.0,
        most_drawn_frame=most_drawn)


def still_pixels(moving: np.ndarray) -> np.ndarray:
    """Pixels at least ``STILL_MARGIN`` of the frame's diagonal from any of its
    ``moving_pixels``."""
    from understudy.regions import dilate

    margin = max(1, int(round(STILL_MARGIN * float(np.hypot(*moving.shape)))))
    return ~dilate(moving, margin)


def summarize(checks: list[VideoCheck]) -> dict[str, Any]:
    """One set's videos summed up for the report's table."""
    frames = sum(c.person_frames for c in checks)
    blobs = sum(c.moving_blobs for c in checks)
    return {
        "videos": len(checks), "frames": sum(c.frames for c in checks),
        "person_frames": frames,
        "replaced_share": 100.0 * sum(c.replaced for c in checks) / frames if frames else None,
        "masked": sum(c.masked for c in checks),
        "alternations": sum(c.alternations for c in checks),
        "moving_blobs": blobs, "left_visible": sum(c.left_visible for c in checks),
        "left_visible_share": 100.0 * sum(c.left_visible for c in checks) / blobs if blobs else None,
        "drawn_still": float(np.mean([c.drawn_still for c in checks])) if checks else None,
        "static_camera": all(c.static_camera for c in checks),
    }

