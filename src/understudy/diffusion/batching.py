"""GPU batching that adapts down on out-of-memory instead of failing the run.

A diffusion stage that denoises 8 people at once is several times faster on a GPU than 8
single calls, but how many fit depends on the GPU, the crop sizes and what else is
resident. ``AdaptiveBatcher`` starts at the requested batch size, halves it when a batch
raises an out-of-memory error, retries the same items, and (optionally) grows back after a
run of successful batches. Items of different sizes cannot be stacked into one tensor, so
``map`` can group them by a key (e.g. the crop size rounded to SD's multiple of 8) and keeps
the caller's order in what it returns.

Typical use inside a method (see docs/scale.md)::

    batcher = AdaptiveBatcher(BatchingOptions(batch_size=8))
    images = batcher.map(lambda crops: pipe(crops, ...).images, crops,
                         key=lambda c: c.shape[:2])
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence, TypeVar

from understudy.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

# Messages of out-of-memory errors raised as plain RuntimeError by older torch builds,
# cuDNN/cuBLAS and onnxruntime's CUDA provider.
_OOM_MESSAGES = ("out of memory", "cudnn_status_alloc_failed", "cublas_status_alloc_failed",
                 "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an accelerator out-of-memory error (torch.cuda.OutOfMemoryError and friends).

    torch is not imported here: if the caller's code raised a torch error, torch is already
    in ``sys.modules``.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        kinds = tuple(k for k in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None))
                      if isinstance(k, type))
        if kinds and isinstance(exc, kinds):
            return True
    if isinstance(exc, MemoryError):
        return False  # host RAM: a smaller GPU batch does not help, and retrying may thrash
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(m in text for m in _OOM_MESSAGES)
    return False


def release_accelerator_memory() -> None:
    """Drop cached blocks so the retry starts from a clean allocator (no-op without torch)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class Failed:
    """The result of an item that could not be processed (``map(..., errors="return")``)."""

    error: BaseException

    @property
    def reason(self) -> str:
        """One line for an audit record: the error's type and first line."""
        return f"{type(self.error).__name__}: {self.error}".splitlines()[0][:300]


@dataclass
class BatchingOptions:
    batch_size: int = 8  # the largest batch tried
    min_batch_size: int = 1  # below this an out-of-memory error is raised to the caller
    grow_after: int = 0  # successful batches before doubling back up; 0 = never grow

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not 1 <= self.min_batch_size <= self.batch_size:
            raise UsageError(f"min_batch_size must be between 1 and batch_size "
                             f"({self.batch_size}), got {self.min_batch_size}")
        if self.grow_after < 0:
            raise UsageError(f"grow_after must be >= 0 (0 = never grow), got {self.grow_after}")


class AdaptiveBatcher:
    """Runs ``fn(list_of_items) -> list_of_results`` over batches; halves the size on OOM.

    The current size is kept across calls, so one worker that hit OOM does not retry the too
    large size on every image. ``history`` records each change for logs and tests.
    """

    def __init__(self, options: BatchingOptions | None = None,
                 on_oom: Callable[[], None] = release_accelerator_memory):
        self.options = options or BatchingOptions()
        self.size = self.options.batch_size
        self.on_oom = on_oom
        self.history: list[tuple[str, int]] = []  # ("shrink"|"grow", new size)
        self._streak = 0

    def map(self, fn: Callable[[list[T]], Sequence[R]], items: Sequence[T],
            key: Callable[[T], Hashable] | None = None, errors: str = "raise"
            ) -> list[R | Failed]:
        """Results of ``fn`` for every item, in the order of ``items``.

        With ``key``, a batch only holds items with equal keys (same tensor shape).
        With ``errors="return"``, an item that cannot be processed gets a ``Failed`` result
        instead of the error ending the whole call: a batch that runs out of memory at
        ``min_batch_size``, or fails with any other error (then its items are retried one
        by one, so that one bad item does not fail the others). A ``UsageError`` is always
        raised: a user's mistake applies to every item.
        """
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        results: list[R | Failed | None] = [None] * len(items)
        for group in group_indices(items, key):
            start = 0
            while start < len(group):
                indices = group[start:start + self.size]
                try:
                    out = self._call(fn, [items[i] for i in indices])
                except UsageError:
                    raise
                except Exception as exc:
                    oom = is_out_of_memory(exc)
                    if oom and self.size > self.options.min_batch_size:
                        self._shrink()
                        continue  # same start, smaller batch
                    if errors == "raise":
                        raise
                    if oom or len(indices) == 1:
                        out = [Failed(exc)] * len(indices)
                    else:
                        out = [self._one(fn, items[i]) for i in indices]
                else:
                    self._succeeded()
                for i, value in zip(indices, out):
                    results[i] = value
                start += len(indices)
        return results  # type: ignore[return-value]

    @staticmethod
    def _call(fn: Callable[[list[T]], Sequence[R]], batch: list[T]) -> Sequence[R]:
        out = fn(batch)
        if len(out) != len(batch):
            raise ValueError(f"batch function returned {len(out)} results for "
                             f"{len(batch)} items")
        return out

    def _one(self, fn: Callable[[list[T]], Sequence[R]], item: T) -> R | Failed:
        """``item`` alone, its error captured (isolating the item that broke a batch)."""
        try:
            return self._call(fn, [item])[0]
        except UsageError:
            raise
        except Exception as exc:
            return Failed(exc)

    def _shrink(self) -> None:
        self.on_oom()
        self.size = max(self.options.min_batch_size, self.size // 2)
        self.history.append(("shrink", self.size))
        self._streak = 0

    def _succeeded(self) -> None:
        self._streak += 1
        grow = self.options.grow_after
        if grow and self._streak >= grow and self.size < self.options.batch_size:
            self.size = min(self.options.batch_size, self.size * 2)
            self.history.append(("grow", self.size))
            self._streak = 0


def group_indices(items: Sequence[T], key: Callable[[T], Hashable] | None = None
                  ) -> list[list[int]]:
    """Indices of ``items`` grouped by ``key`` (first-seen order); one group without a key."""
    if key is None:
        return [list(range(len(items)))] if len(items) else []
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    return list(groups.values())


def size_bucket(height: int, width: int, multiple: int = 64) -> tuple[int, int]:
    """The (H, W) a crop is resized to so that similar crops share a batch: rounded up to
    ``multiple`` (SD's VAE needs multiples of 8; 64 makes fewer, fuller buckets)."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    return (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
