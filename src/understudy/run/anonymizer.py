"""One image or video frame through perception, a method and the fail-closed guard.

``Anonymizer`` is what the runners (local and Ray) hold per worker: models load once in
its constructor and every frame goes through ``__call__`` or ``stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from understudy.errors import UsageError
from understudy.run.guard import run_guarded
from understudy.methods.base import Method
from understudy.perception.perceiver import PerceptionOptions, Perceiver, build_perceiver
from understudy.scene import Frame, Result, Scene


@dataclass
class AnonymizeOptions:
    """Everything that decides how an input is anonymized (the CLI and the API build this)."""

    method: str = "blur"
    method_options: dict[str, Any] = field(default_factory=dict)
    perception: PerceptionOptions = field(default_factory=PerceptionOptions)
    # Several outputs per input from one perception pass, e.g. an anonymization-scale sweep:
    # (output subfolder, method option overrides). The default is one plain output.
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("", {}),)
    # The run seed: the anonymizer stamps it on every Scene, and each frame's generator starts
    # from it; same seed, same output.
    seed: int = 0

    def __post_init__(self) -> None:
        from understudy.methods.registry import get_spec

        spec = get_spec(self.method)
        if self.perception.target not in spec.targets:
            raise UsageError(f"method {spec.name!r} works on --target "
                             f"{' or '.join(spec.targets)}, not {self.perception.target!r}")


class Anonymizer:
    """``anonymizer(frame) -> (scene, result)``; models are loaded once, here."""

    def __init__(self, options: AnonymizeOptions, method: Method | None = None,
                 perceiver: Perceiver | None = None):
        from understudy.methods.registry import load_method

        self.options = options
        if method is not None:
            self.variants: list[tuple[str, Method]] = [("", method)]
        else:
            self.variants = [(suffix, load_method(options.method,
                                                  **{**options.method_options, **overrides}))
                             for suffix, overrides in options.variants]
        self.method = self.variants[0][1]
        if perceiver is None:
            from understudy.methods.base import EVERYTHING_READ
            from understudy.methods.registry import get_spec

            # Perception skips what the method does not read (pose for the pixel baselines);
            # a method object given here may read anything, so it gets everything.
            reads = get_spec(options.method).reads if method is None else EVERYTHING_READ
            perceiver = build_perceiver(options.perception, reads=reads)
        self.perceiver = perceiver

    def close(self) -> None:
        """Release what the methods hold beyond memory (RefSD's OpenGL context)."""
        from understudy.methods.base import Closable

        for method in {id(m): m for _, m in self.variants}.values():
            if isinstance(method, Closable):
                method.close()

    def rng_for(self, frame: Frame) -> np.random.Generator:
        """A generator per frame: the run seed plus the frame's place, so results do not depend
        on the order (or the worker) in which frames are processed."""
        import hashlib

        # surrogateescape: a file name that is not UTF-8 still seeds (other names: same bytes)
        text = f"{frame.source}\0{frame.index}".encode("utf-8", "surrogateescape")
        key = hashlib.sha256(text).digest()
        return np.random.default_rng([self.options.seed, int.from_bytes(key[:8], "little")])

    def apply(self, scene: Scene, method: Method | None = None) -> Result:
        scene.seed = self.options.seed  # the one place a scene learns the run seed
        result = run_guarded(method or self.method, scene, self.rng_for(scene.frame))
        # The audit says how each person was found when not by a detector ("face",
        # "residual", "annotation"): methods build records without it.
        for region, record in zip(scene.regions(), result.regions):
            source = region.person.source if region.person is not None else ""
            if not record.source and source not in ("", "detector"):
                record.source = source
        # People and faces left alone on purpose go to the audit too, after the method's own.
        result.regions.extend(scene.skipped)
        return result

    def __call__(self, frame: Frame) -> tuple[Scene, Result]:
        scene = self.perceiver.perceive(frame)
        return scene, self.apply(scene)

    def stream(self, frames: Iterable[Frame], method: Method | None = None
               ) -> Iterator[tuple[Scene, Result]]:
        """Frames of one video, in order: perception may track people across them, and a
        method that follows the video (``FollowsVideo``) keeps what it learns until the end."""
        from understudy.methods.base import FollowsVideo

        method = method or self.method
        follows = isinstance(method, FollowsVideo)
        if follows:
            method.begin_video()
        try:
            for scene in self.perceiver.perceive_stream(frames):
                yield scene, self.apply(scene, method)
        finally:
            if follows:
                method.end_video()
