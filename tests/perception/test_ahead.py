"""Perception ahead of its consumer, in a thread of its own (issue 18): the same outputs in the
same order as run in turn, errors where the caller sees them, and no thread left behind."""

import threading
import time

import pytest

from understudy.errors import InputError
from understudy.perception.ahead import run_ahead


def squares(items):
    for x in items:
        yield x * x


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "understudy-perception"]


def test_outputs_come_in_order_and_complete():
    assert list(run_ahead(squares, range(50))) == [x * x for x in range(50)]
    assert list(run_ahead(squares, [])) == []
    assert not workers()


def test_the_stage_runs_ahead_of_the_caller_but_not_further_than_depth():
    given = []

    def stage(items):
        for x in items:
            given.append(x)
            yield x

    out = run_ahead(stage, range(10), depth=2)
    assert next(out) == 0
    time.sleep(0.05)
    assert given[:3] == [0, 1, 2] and len(given) <= 3  # one taken, two ahead
    assert list(out) == list(range(1, 10))


def test_an_error_in_the_stage_reaches_the_caller_with_its_type():
    def stage(items):
        for x in items:
            if x == 3:
                raise InputError("frame 3 is broken")
            yield x

    seen = []
    with pytest.raises(InputError, match="frame 3"):
        for x in run_ahead(stage, range(10)):
            seen.append(x)
    assert seen == [0, 1, 2]
    assert not workers()


def test_a_caller_that_stops_early_leaves_no_thread():
    out = run_ahead(squares, range(1000))
    assert next(out) == 0
    out.close()
    assert not workers()

    def failing_input():
        yield 1
        raise InputError("decoding failed")

    with pytest.raises(InputError, match="decoding"):
        list(run_ahead(squares, failing_input()))
    assert not workers()


def test_a_stage_that_ends_early_or_invents_outputs_is_an_error():
    def ends_early(items):
        for x in items:
            if x == 3:
                return
            yield x

    with pytest.raises(RuntimeError, match="fewer"):
        list(run_ahead(ends_early, range(6)))

    def invents(items):
        for x in items:
            yield x
        yield -1

    with pytest.raises(RuntimeError, match="more"):
        list(run_ahead(invents, range(6)))
    assert not workers()
