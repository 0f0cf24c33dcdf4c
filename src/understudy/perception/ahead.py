"""A video's per-frame perception in its own thread, a few frames ahead of what uses it.

On a video the frame loop is perception (detectors, pose, segmentation, the optical flow) and
then, for the same frame, tracking, the method and the encoder. Run in turn, one of two cores
sits idle most of the time: mask-out on a 768x576 street clip kept 1.2 cores busy. The models
spend their time in native code that releases the GIL (OpenCV DNN, onnxruntime, MediaPipe),
so perception of the next frames overlaps the method and the encoder of this one. The stage
still sees every frame once and in order, so its output is the same as in turn.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

# How many frames perception may run ahead: two keeps both cores busy; each frame in flight
# holds its image and its people's masks.
DEPTH = 2

_END = object()  # no more input / the stage has stopped


def run_ahead(stage: Callable[[Iterator[In]], Iterator[Out]], items: Iterable[In],
              depth: int = DEPTH) -> Iterator[Out]:
    """``stage(items)``, run in a worker thread at most ``depth`` items ahead of the caller.

    ``stage`` must yield exactly one output per input, in order, without waiting for later
    inputs (``KeyframePerception.run``, a generator of ``detect``): the caller then never
    waits for an output whose input it has not yet given. An exception in the stage is raised
    here, as it would be in turn; when the caller stops early the worker is told to stop and
    is joined, so no thread outlives the video.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    inbox: queue.Queue = queue.Queue()
    outbox: queue.Queue = queue.Queue()

    def inputs() -> Iterator[In]:
        while (item := inbox.get()) is not _END:
            yield item

    def work() -> None:
        try:
            for out in stage(inputs()):
                outbox.put((out, None))
        except BaseException as exc:  # re-raised in the caller's thread
            outbox.put((_END, exc))
        else:
            outbox.put((_END, None))

    def take() -> Out:
        out, exc = outbox.get()
        if exc is not None:
            raise exc
        if out is _END:
            raise RuntimeError("a perception stage yielded fewer outputs than it was given")
        return out

    worker = threading.Thread(target=work, name="understudy-perception", daemon=True)
    worker.start()
    in_flight = 0
    try:
        for item in items:
            inbox.put(item)
            in_flight += 1
            if in_flight > depth:
                yield take()
                in_flight -= 1
        inbox.put(_END)
        for _ in range(in_flight):
            yield take()
        in_flight = 0
        out, exc = outbox.get()
        if exc is not None:
            raise exc
        if out is not _END:
            raise RuntimeError("a perception stage yielded more outputs than it was given")
    finally:
        inbox.put(_END)  # a worker still waiting for input stops (a second _END is unread)
        worker.join()
