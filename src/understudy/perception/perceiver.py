"""Turn frames into scenes: who is there, and which regions a method must change.

``Perceiver`` combines a face detector with (once the people stage is configured) a people
detector. ``perceive_stream`` is the video entry point; it is where tracking lives, so a
stream may hold a few frames back to fill detector gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from understudy.errors import UsageError
from understudy.scene import Face, Frame, Person, Scene, TARGETS


class FaceDetector(Protocol):
    def __call__(self, image: np.ndarray) -> list[Face]: ...


class PeopleDetector(Protocol):
    """Find people: boxes at least; masks and keypoints when the model gives them."""

    def __call__(self, image: np.ndarray) -> list[Person]: ...


@dataclass
class PerceptionOptions:
    target: str = "faces"
    seed: int = 0
    annotations: str | None = None  # a COCO json used instead of detecting people
    image_root: str | None = None  # the folder COCO file names are relative to
    min_person_size: int = 0  # people smaller than this (box height, px) are skipped
    exclude_regions: tuple[tuple[float, float, float, float], ...] = ()  # x0,y0,x1,y1 boxes
    uncertain_threshold: float = 0.5  # detections scoring below this are masked out
    cache_dir: str | None = None  # on-disk cache of perception results, keyed by content hash

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise UsageError(f"target {self.target!r} is not known; allowed: {', '.join(TARGETS)}")


class Perceiver:
    """``perceiver.perceive(frame) -> Scene``."""

    def __init__(self, options: PerceptionOptions, faces: FaceDetector,
                 people: PeopleDetector | None = None):
        if options.target == "people" and people is None:
            raise UsageError("--target people needs a people detector, which is not available "
                             "in this build; use --target faces")
        self.options = options
        self.faces = faces
        self.people = people

    def perceive(self, frame: Frame) -> Scene:
        faces = self.faces(frame.image)
        people = self.people(frame.image) if self.people is not None else []
        return Scene(frame, people=people, faces=faces, target=self.options.target,
                     seed=self.options.seed)

    def perceive_stream(self, frames: Iterable[Frame]) -> Iterator[Scene]:
        for frame in frames:
            yield self.perceive(frame)


def build_perceiver(options: PerceptionOptions,
                    face_detector: Callable[[], FaceDetector] | None = None) -> Perceiver:
    """The default perceiver for ``options``, with the models that ship offline."""
    from understudy.perception.faces import CenterFaceDetector

    faces = face_detector() if face_detector is not None else CenterFaceDetector()
    return Perceiver(options, faces)
