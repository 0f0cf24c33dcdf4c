"""Several models on one image at once: the first in the caller's thread, each other in a
worker thread of its own.

The detectors we fuse are native code (OpenCV, onnxruntime, TF Lite) that releases the GIL,
and none of them keeps 2 cores busy on its own: run one after another, a 768x576 frame took
157-167 ms through the three people detectors, side by side 127-134 ms (benchmarks/RESULTS.md).
Each model still sees one image at a time, and the results come back in the models' order, so
whatever is built from them does not change.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


class SideBySide:
    """``side_by_side(models, image) -> [model(image) for model in models]``, run at once.

    Owns ``workers`` threads (made on first use), for up to ``workers + 1`` models."""

    def __init__(self, workers: int, name: str):
        self.workers = workers
        self.name = name
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, models: Sequence[Callable[[np.ndarray], T]], image: np.ndarray
                 ) -> list[T]:
        if len(models) - 1 > self.workers:
            raise ValueError(f"{len(models)} models need {len(models) - 1} workers, "
                             f"{self.name} has {self.workers}")
        if len(models) < 2:
            return [model(image) for model in models]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
        pending = [self._pool.submit(model, image) for model in models[1:]]
        first = models[0](image)
        return [first] + [p.result() for p in pending]
