"""Whoever builds an Anonymizer closes it, so a method's OpenGL context or GPU memory is
released when a run ends (RefSD's renderer), also when the run fails half-way."""

from __future__ import annotations

import shutil

import pytest

import understudy.run.local as local
from understudy.methods.base import Closable
from understudy.methods.registry import load_method
from understudy.perception.perceiver import PerceptionOptions
from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
from understudy.samples import sample_paths


def test_refsd_is_closable_and_blur_is_not():
    assert isinstance(load_method("refsd"), Closable)
    assert not isinstance(load_method("blur"), Closable)


def test_local_run_closes_the_anonymizer_it_built(tmp_path, monkeypatch):
    closed = []

    class Recording(Anonymizer):
        def close(self) -> None:
            closed.append(True)
            super().close()

    monkeypatch.setattr(local, "Anonymizer", Recording)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(sample_paths()[0], src)
    options = local.RunOptions([str(src)], str(tmp_path / "out"),
                               AnonymizeOptions("blur", {}, PerceptionOptions()))
    summary = local.run(options)
    assert summary.ok == 1 and closed == [True]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(local, "process_item", broken)
    with pytest.raises(RuntimeError):
        local.run(local.RunOptions([str(src)], str(tmp_path / "out2"),
                                   AnonymizeOptions("blur", {}, PerceptionOptions())))
    assert closed == [True, True]
