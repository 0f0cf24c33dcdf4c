"""The one interface every anonymizer implements, and its description for the registry.

The batch runner, the CLI and the evaluation only talk to ``Method``; a new method is one
module plus one ``MethodSpec`` line in ``understudy.methods.registry``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from understudy.errors import UsageError
from understudy.scene import Result, Scene


@runtime_checkable
class Method(Protocol):
    """Anonymize every region of ``scene.regions()``; return one ``RegionResult`` per region.

    A method that cannot process a region reports ``Outcome.FAILED`` for it (or raises):
    the fail-closed guard then fills the region solid. Pixels outside the regions must be
    left as they are, apart from a margin the method documents; around a person, at least
    ``understudy.regions.person_margin`` (the soft edge a mask misses: hair, fingers, shoes).
    """

    name: str

    def anonymize(self, scene: Scene, rng: np.random.Generator) -> Result: ...


@runtime_checkable
class Closable(Protocol):
    """A method that holds more than memory (an OpenGL context, GPU memory): whoever built
    it calls ``close()`` once it is done with it (``Anonymizer.close``)."""

    def close(self) -> None: ...


@runtime_checkable
class FollowsVideo(Protocol):
    """A method that carries something from one frame of a video to the next (RefSD: the
    clean background plate and each track's light). ``Anonymizer.stream`` calls
    ``begin_video()`` before a video's first frame and ``end_video()`` after its last, so
    nothing carries over from one video to another or into photos."""

    def begin_video(self) -> None: ...

    def end_video(self) -> None: ...


# What a method may read of each person (``MethodSpec.reads``): the box, the instance mask
# (with the face and extremities drawn into its region), and the pose (MediaPipe landmarks in
# 2D/3D, MoveNet's COCO-17). Perception skips the per-person pose stage for a method that
# does not read "pose" (MediaPipe pose was 56 % of a mask-out frame's time on street video).
READS = ("boxes", "masks", "pose")
PIXELS_READ = frozenset({"boxes", "masks"})
EVERYTHING_READ = frozenset(READS)


@dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about a method without importing its (maybe heavy) module."""

    name: str
    summary: str
    factory: str  # "module:Class"; the class takes one options dataclass instance
    targets: tuple[str, ...] = ("faces", "people")
    needs: str = ""  # what it needs beyond the base install, for `understudy methods`
    requires: tuple[str, ...] = ()  # importable modules it needs
    weights: bool = False  # needs model weights the user gives (hub id or folder) to run
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A method that runs part of its pipeline without weights: what it then is (e.g. "render
    # mode (no SD weights)"), and what the weighted stage needs (flags, modules).
    without_weights: str = ""
    weighted_stage_needs: tuple[str, ...] = ()
    weighted_stage_requires: tuple[str, ...] = ()
    # "module:function" that turns options holding several values of one option into one
    # (output folder, options) per value, e.g. an anonymization-scale sweep; "" = no sweeps.
    sweep: str = ""

    # What the method reads of a person (a subset of READS); undeclared means everything, so
    # a new method is never given less than it needs.
    reads: frozenset[str] = EVERYTHING_READ

    def __post_init__(self) -> None:
        unknown = sorted(set(self.reads) - set(READS))
        if unknown or "boxes" not in self.reads:
            raise ValueError(f"method {self.name!r}: reads {sorted(self.reads)} must include "
                             f"'boxes' and be among {', '.join(READS)}")

    def missing(self) -> list[str]:
        """Modules this method needs that are not importable here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def load_class(self) -> type:
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)


def build_options(options_cls: type, values: dict[str, Any], method: str) -> Any:
    """Build a method's options dataclass, naming unknown keys and what is allowed."""
    allowed = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise UsageError(
            f"method {method!r} has no option {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    return options_cls(**values)

