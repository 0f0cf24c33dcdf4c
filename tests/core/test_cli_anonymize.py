"""`understudy anonymize` end to end: outputs mirror inputs, the audit tells the story, bad
inputs fail alone with one line, resume skips what is done, originals are never touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from understudy.cli import main
from understudy.samples import sample_paths


def audit(dst: Path) -> list[dict]:
    return [json.loads(line) for line in (dst / "audit.jsonl").read_text().splitlines()]


@pytest.fixture()
def src(tmp_path) -> Path:
    folder = tmp_path / "in put ü"  # spaces and unicode on purpose
    (folder / "sub").mkdir(parents=True)
    samples = sample_paths()
    shutil.copy(samples[0], folder / "astronaut.jpg")
    shutil.copy(samples[1], folder / "sub" / "cameraman.jpg")
    return folder


def test_folder_mirrors_and_audits(src, tmp_path, capsys):
    dst = tmp_path / "out"
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert main(["anonymize", str(src), "-o", str(dst), "--method", "pixelate", "--quiet"]) == 0
    assert (dst / "astronaut.jpg").is_file() and (dst / "sub" / "cameraman.jpg").is_file()
    rows = audit(dst)
    assert {r["output"] for r in rows} == {"astronaut.jpg", "sub/cameraman.jpg"}
    for row in rows:
        assert row["status"] == "ok" and len(row["sha256"]) == 64 and row["method"] == "pixelate"
        assert [r["outcome"] for r in row["regions"]] == ["replaced"]
    assert before == {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}, "SRC changed"
    original = np.asarray(Image.open(src / "astronaut.jpg"))
    output = np.asarray(Image.open(dst / "astronaut.jpg"))
    assert output.shape == original.shape
    box = [int(v) for v in rows[0]["regions"][0]["box"]] if rows[0]["output"] == "astronaut.jpg" \
        else [int(v) for v in rows[1]["regions"][0]["box"]]
    x0, y0, x1, y1 = box
    face_change = np.abs(output[y0:y1, x0:x1].astype(int) - original[y0:y1, x0:x1].astype(int)).mean()
    assert face_change > 10


def test_bad_inputs_fail_alone(src, tmp_path, capsys):
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.png").write_text("not an image")
    dst = tmp_path / "out"
    code = main(["anonymize", str(src), "-o", str(dst), "--quiet"])
    assert code == 1
    rows = {r["output"]: r for r in audit(dst)}
    assert rows["empty.jpg"]["status"] == "failed" and rows["notes.png"]["status"] == "failed"
    assert rows["astronaut.jpg"]["status"] == "ok"
    assert not (dst / "empty.jpg").exists() and not (dst / "notes.png").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("understudy: ") for line in err)
    assert "Traceback" not in "".join(err)


def test_resume_skips_done_and_redoes_changed(src, tmp_path):
    dst = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(dst), "--quiet"]) == 0
    first = audit(dst)
    stamp = (dst / "astronaut.jpg").stat().st_mtime_ns
    assert main(["anonymize", str(src), "-o", str(dst), "--resume", "--quiet"]) == 0
    assert audit(dst) == first, "a resumed run must not add rows for finished inputs"
    assert (dst / "astronaut.jpg").stat().st_mtime_ns == stamp
    # A changed source is done again; a deleted output is written again.
    Image.open(src / "astronaut.jpg").transpose(Image.FLIP_LEFT_RIGHT).save(src / "astronaut.jpg")
    (dst / "sub" / "cameraman.jpg").unlink()
    assert main(["anonymize", str(src), "-o", str(dst), "--resume", "--quiet"]) == 0
    redone = audit(dst)[len(first):]
    assert sorted(r["output"] for r in redone) == ["astronaut.jpg", "sub/cameraman.jpg"]


def test_resume_repairs_a_truncated_audit(src, tmp_path):
    dst = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(dst), "--quiet"]) == 0
    text = (dst / "audit.jsonl").read_text()
    (dst / "audit.jsonl").write_text(text[: len(text) - 20])  # a run killed mid-write
    assert main(["anonymize", str(src), "-o", str(dst), "--resume", "--quiet"]) == 0
    rows = audit(dst)  # every line parses again
    assert sorted(r["output"] for r in rows) == ["astronaut.jpg", "sub/cameraman.jpg"]


@pytest.mark.parametrize("inside", ["same", "child"])
def test_refuses_destination_inside_source(src, inside, capsys):
    dst = src if inside == "same" else src / "out"
    assert main(["anonymize", str(src), "-o", str(dst), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not (src / "out").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "nosuch"], "unknown method"),
    (["--option", "blocks"], "KEY=VALUE"),
    (["--method", "blur", "--option", "blocks=3"], "has no option blocks"),
    (["--exclude-region", "1,2,3"], "X0,Y0,X1,Y1"),
    (["--workers", "0"], "--workers"),
])
def test_usage_errors_exit_2_with_one_line(src, tmp_path, argv, fragment, capsys):
    code = main(["anonymize", str(src), "-o", str(tmp_path / "o"), "--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1


def test_missing_source_is_a_usage_error(tmp_path, capsys):
    assert main(["anonymize", str(tmp_path / "nope"), "-o", str(tmp_path / "o"), "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err


def test_console_script_runs_as_a_process(src, tmp_path):
    exe = Path(sys.executable).parent / "understudy"
    done = subprocess.run([str(exe), "anonymize", str(src / "astronaut.jpg"), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "astronaut.jpg").is_file()
    assert "1 written" in done.stderr


def test_two_workers_match_one(src, tmp_path):
    for n in (1, 2):
        assert main(["anonymize", str(src), "-o", str(tmp_path / f"w{n}"), "--workers", str(n), "--quiet"]) == 0
    for rel in ("astronaut.jpg", "sub/cameraman.jpg"):
        assert (tmp_path / "w1" / rel).read_bytes() == (tmp_path / "w2" / rel).read_bytes()


def test_a_people_only_method_implies_its_target(tmp_path):
    import json
    import shutil

    from understudy.cli import main
    from understudy.methods.registry import target_for
    from understudy.samples import sample_paths

    assert target_for("refsd", None) == "people"
    assert target_for("blur", None) == "faces"
    assert target_for("maskout", None, people_given=True) == "people"
    assert target_for("blur", "people") == "people"
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(sample_paths()[0], src)
    # maskout with COCO-free defaults stays on faces; refsd alone works on people.
    assert main(["anonymize", str(src), "-o", str(tmp_path / "m"), "--method", "maskout",
                 "--quiet"]) == 0
    row = json.loads((tmp_path / "m" / "audit.jsonl").read_text().splitlines()[0])
    assert row["target"] == "faces"
    # An explicit contradictory target stays a usage error (exit 2), before any output.
    assert main(["anonymize", str(src), "-o", str(tmp_path / "r"), "--method", "refsd",
                 "--target", "faces", "--quiet"]) == 2
    assert not (tmp_path / "r").exists()
