"""AdaptiveBatcher: out-of-memory shrinks the batch and retries; nothing is lost or reordered."""

from __future__ import annotations

import pytest
import torch

from understudy.errors import UsageError
from understudy.diffusion.batching import (AdaptiveBatcher, BatchingOptions, group_indices,
                                       is_out_of_memory, size_bucket)


class FakeGpu:
    """A batch function that runs out of memory above ``capacity`` items, like a real GPU."""

    def __init__(self, capacity: int, error=torch.cuda.OutOfMemoryError):
        self.capacity = capacity
        self.error = error
        self.calls: list[int] = []

    def __call__(self, batch: list[int]) -> list[int]:
        self.calls.append(len(batch))
        if len(batch) > self.capacity:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]


def test_shrinks_on_oom_and_keeps_every_result_in_order():
    gpu = FakeGpu(capacity=3)
    released = []
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=8), on_oom=lambda: released.append(1))
    items = list(range(20))
    assert batcher.map(gpu, items) == [x * 10 for x in items]
    assert batcher.size == 2  # 8 -> 4 -> 2 fits under capacity 3
    assert batcher.history == [("shrink", 4), ("shrink", 2)]
    assert len(released) == 2  # the allocator is emptied before each retry
    # every item went through a successful call exactly once
    assert sum(n for n in gpu.calls if n <= gpu.capacity) == len(items)


def test_size_is_remembered_across_calls():
    gpu = FakeGpu(capacity=2)
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4), on_oom=lambda: None)
    batcher.map(gpu, list(range(8)))
    gpu.calls.clear()
    batcher.map(gpu, list(range(8)))
    assert gpu.calls == [2, 2, 2, 2]  # no new out-of-memory attempt


def test_grows_back_after_successes():
    gpu = FakeGpu(capacity=2)
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4, grow_after=2), on_oom=lambda: None)
    batcher.map(gpu, list(range(6)))
    assert ("shrink", 2) in batcher.history
    gpu.capacity = 4  # memory freed by something else
    assert batcher.map(gpu, list(range(12))) == [x * 10 for x in range(12)]
    assert batcher.size == 4 and batcher.history[-1] == ("grow", 4)


def test_oom_at_minimum_size_is_raised():
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4, min_batch_size=2), on_oom=lambda: None)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        batcher.map(FakeGpu(capacity=1), list(range(4)))
    assert batcher.size == 2


def test_other_errors_are_not_retried():
    def broken(batch):
        raise ValueError("bad input")

    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4), on_oom=lambda: None)
    with pytest.raises(ValueError):
        batcher.map(broken, [1, 2, 3])
    assert batcher.size == 4 and batcher.history == []


def test_runtime_error_oom_message_is_recognised():
    gpu = FakeGpu(capacity=1, error=RuntimeError)  # older torch / cuDNN style
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=2), on_oom=lambda: None)
    assert batcher.map(gpu, [1, 2, 3]) == [10, 20, 30]
    assert is_out_of_memory(torch.OutOfMemoryError("x"))
    assert not is_out_of_memory(MemoryError())  # host RAM: not a batch-size problem
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_groups_by_key_and_returns_input_order():
    seen = []

    def fn(batch):
        assert len({shape for shape, _ in batch}) == 1  # one tensor shape per batch
        seen.append(len(batch))
        return [value for _, value in batch]

    items = [((64, 64), 0), ((128, 64), 1), ((64, 64), 2), ((128, 64), 3), ((64, 64), 4)]
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=2), on_oom=lambda: None)
    assert batcher.map(fn, items, key=lambda it: it[0]) == [0, 1, 2, 3, 4]
    assert sorted(seen) == [1, 2, 2]
    assert group_indices(items, key=lambda it: it[0]) == [[0, 2, 4], [1, 3]]
    assert batcher.map(fn, []) == []


def test_wrong_result_count_is_an_error():
    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4), on_oom=lambda: None)
    with pytest.raises(ValueError, match="3 items"):
        batcher.map(lambda batch: batch[:1], [1, 2, 3])


def test_options_are_validated_with_teaching_messages():
    with pytest.raises(UsageError, match="--batch-size must be >= 1, got 0"):
        BatchingOptions(batch_size=0)
    with pytest.raises(UsageError, match="min_batch_size"):
        BatchingOptions(batch_size=2, min_batch_size=3)
    assert size_bucket(100, 65) == (128, 128)
    assert size_bucket(100, 65, multiple=8) == (104, 72)


# --- how a method opts in to --batch-size ---------------------------------------------------

from dataclasses import dataclass  # noqa: E402


@dataclass
class BatchedOptions:
    batch_size: int = 1


class BatchedMethod:
    """A method that batches its regions: its options have ``batch_size``."""

    name = "batched"

    def __init__(self, options: BatchedOptions | None = None):
        self.options = options or BatchedOptions()


def test_batch_size_reaches_only_methods_that_batch(monkeypatch, tmp_path):
    from understudy.cli import build_parser
    from understudy.cli.anonymize import build_options
    from understudy.methods import registry
    from understudy.methods.base import MethodSpec
    from understudy.methods.registry import accepts_batch_size

    spec = MethodSpec("batched", "test", "scale.test_batching:BatchedMethod")
    monkeypatch.setitem(registry.METHODS, "batched", spec)
    assert accepts_batch_size("batched") and not accepts_batch_size("blur")
    (tmp_path / "in").mkdir()
    parse = build_parser().parse_args
    args = parse(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "o"),
                  "--method", "batched", "--batch-size", "4"])
    assert build_options(args).anonymize.method_options == {"batch_size": 4}
    args = parse(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--batch-size", "4"])
    assert build_options(args).anonymize.method_options == {}  # blur runs region by region
