"""The Ray Data runner gives the local runner's outputs, audit and resume semantics."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from scale.scale_helpers import (assert_complete, audit_rows, comparable, expected_outputs, same_tree,
                           write_inputs)
from understudy.io.audit import AuditLog, resume_entries
from understudy.cli import main
from understudy.errors import UsageError
from understudy.run.anonymizer import AnonymizeOptions
from understudy.run.local import RunOptions, run as run_local
from understudy.run.ray import (RayOptions, display_source, portable,
                                         read_items, run as run_ray)


def options(src: Path, dst: Path, method: str = "blur", resume: bool = False) -> RunOptions:
    return RunOptions([str(src)], str(dst), AnonymizeOptions(method), resume=resume)


def test_reader_streams_blocks_with_resume_entries(tmp_path):
    src = write_inputs(tmp_path / "in", generated=9)
    names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    audit = tmp_path / "audit.jsonl"
    log = AuditLog(audit)
    log.write({"output": "astronaut.jpg", "status": "ok", "sha256": "a1", "settings": "s"})
    log.write({"output": "cameraman.jpg", "status": "ok", "sha256": "c1", "settings": "s"})
    log.write({"output": "cameraman.jpg", "status": "failed", "error": "x"})  # redo it
    log.close()
    entry = {"sha256": "a1", "settings": "s"}
    assert resume_entries(audit) == {"astronaut.jpg": entry}
    assert {k: v["sha256"] for k, v in AuditLog(audit).done().items()} == {"astronaut.jpg": "a1"}

    blocks = list(read_items([str(src)], [""], audit, block_rows=4))
    assert [b.num_rows for b in blocks] == [4, 4, 4]  # 12 inputs, streamed 4 at a time
    rows = [r for b in blocks for r in b.to_pylist()]
    assert sorted(os.fsdecode(r["relative"]) for r in rows) == names
    done = {os.fsdecode(r["relative"]): r["done"] for r in rows if r["done"]}
    assert done == {"astronaut.jpg": json.dumps({"astronaut.jpg": entry})}
    # several variants (an anonymization-scale sweep): entries per output folder
    rows = [r for b in read_items([str(src)], ["as_1", "as_2"], None, 100) for r in b.to_pylist()]
    assert len(rows) == len(names) and not any(r["done"] for r in rows)


def test_paths_travel_as_absolute_and_come_back_as_typed(tmp_path, monkeypatch):
    src = write_inputs(tmp_path / "in", generated=1)
    monkeypatch.chdir(tmp_path)
    opts = RunOptions(["in"], "out", AnonymizeOptions("blur"))
    shipped = portable(opts)
    assert shipped.sources == [str(src)]
    assert display_source(str(src / "sub dir" / "x.png"), shipped.sources, ["in"]) == "in/sub dir/x.png"
    assert display_source(str(src), shipped.sources, ["in"]) == "in"
    assert display_source("/elsewhere/a.png", shipped.sources, ["in"]) == "/elsewhere/a.png"


def test_options_are_validated():
    with pytest.raises(UsageError, match="--actors must be >= 0"):
        RayOptions(actors=-1)
    with pytest.raises(UsageError, match="--batch-size must be >= 1, got 0"):
        RayOptions(batch_size=0)
    with pytest.raises(UsageError, match="--address is empty"):
        RayOptions(address=" ")


def test_cli_rejects_scale_flags_that_cannot_work(tmp_path, capsys):
    src = write_inputs(tmp_path / "in", generated=1)
    assert main(["anonymize", str(src), "-o", str(tmp_path / "o"), "--address", "auto"]) == 2
    assert "--address is for --engine ray" in capsys.readouterr().err
    assert main(["anonymize", str(src), "-o", str(tmp_path / "o"), "--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1, got 0" in capsys.readouterr().err


def test_unreachable_cluster_is_a_usage_error_and_leaves_nothing(tmp_path, capsys):
    # Before any test starts Ray in this process: a run joins an instance already running.
    src = write_inputs(tmp_path / "in", generated=1)
    dst = tmp_path / "o"
    code = main(["anonymize", str(src), "-o", str(dst), "--engine", "ray",
                 "--address", "127.0.0.1:1"])
    assert code == 2
    assert "cannot reach the Ray cluster at --address '127.0.0.1:1'" in capsys.readouterr().err
    assert not dst.exists()

def test_ray_gives_the_local_runners_bytes_audit_and_resume(tmp_path, ray_instance):
    src = write_inputs(tmp_path / "in", generated=10)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    for method in ("blur", "maskout"):
        expected = run_local(options(src, local / method, method))
        got = run_ray(options(src, distributed / method, method),
                      ray_options=RayOptions(actors=2, batch_size=3))
        # The audits first: a region found by one runner and not the other shows there.
        assert comparable(audit_rows(local / method)) == comparable(audit_rows(distributed / method))
        assert same_tree(local / method, distributed / method) == []
        assert (got.ok, got.failed, got.outcomes) == (expected.ok, expected.failed, expected.outcomes)
        assert got.ok == len(expected_outputs(src)) and got.failed == 1
        assert expected.outcomes[("face", "replaced")] >= 1  # the astronaut's face, at least
    assert ray_instance.is_initialized()  # a run joins the caller's instance, never stops it

    # Resume: untouched outputs are skipped; a deleted output and a changed source are redone.
    dst = distributed / "blur"
    before = len(audit_rows(dst))
    (dst / "gen" / "img 00001.png").unlink()
    shutil.copy(src / "gen" / "img 00002.jpg", src / "gen" / "img 00006.jpg")
    seen = []
    summary = run_ray(options(src, dst, resume=True), on_row=seen.append,
                      ray_options=RayOptions(actors=2, batch_size=3))
    assert (summary.ok, summary.failed) == (2, 1)  # the corrupt file is retried and fails again
    assert summary.resumed == len(expected_outputs(src)) - 2 == summary.files - 3
    assert len(seen) == summary.files
    rows = audit_rows(dst)[before:]
    assert sorted(r["output"] for r in rows if r["status"] == "ok") == [
        "gen/img 00001.png", "gen/img 00006.jpg"]
    assert (dst / "gen" / "img 00001.png").read_bytes() == \
        (local / "blur" / "gen" / "img 00001.png").read_bytes()

