"""Every argument error is a usage error: exit 2, one line that names the flag, nothing
processed, and no DST created (or an existing DST left as it was)."""

from __future__ import annotations

import json

import pytest

from adversarial.helpers import cli, photo, snapshot

# (extra arguments, a fragment of the one-line message). "SRC" and "DST" are filled in.
CASES = [
    (["--seed", "-5"], "--seed must be in 0..4294967295"),
    (["--seed", str(2**32)], "--seed"),
    (["--seed", "abc"], "invalid int value"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--workers", "-3"], "--workers"),
    (["--max-pixels", "0"], "--max-pixels"),
    (["--max-memory", "0"], "--max-memory"),
    (["--max-memory", "nan"], "--max-memory must be a finite number"),
    (["--min-person-size", "-1"], "--min-person-size"),
    (["--uncertain-threshold", "1.5"], "--uncertain-threshold must be in 0..1"),
    (["--uncertain-threshold", "nan"], "--uncertain-threshold must be a finite number"),
    (["--face-max-side", "-1"], "--face-max-side"),
    (["--face-max-side", "10"], "--face-max-side"),
    (["--actors", "-1"], "--actors"),
    (["--batch-size", "0"], "--batch-size"),
    (["--exclude-region", "1,2,3"], "--exclude-region"),
    (["--exclude-region", "5,5,1,1"], "--exclude-region"),
    (["--exclude-region", "nan,0,1,1"], "--exclude-region"),
    (["--anonymization-scale", "-1", "--method", "camouflage"], "anonymization"),
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "blur:nope"], "has no preset 'nope'"),
    (["--method", "blur:nope", "--workers", "2"], "has no preset 'nope'"),
    (["--option", "novalue"], "is not KEY=VALUE"),
    (["--option", "bogus=1"], "has no option bogus"),
    (["--option", "bogus=1", "--workers", "2"], "has no option bogus"),
    (["--target", "cats"], "invalid choice"),
    (["--method", "refsd", "--target", "faces"], "--target"),
    (["--annotations", "missing.json", "--target", "people"], "missing.json"),
    (["--annotations", "coco.json", "--target", "faces"], "needs --target people"),
    (["--address", "localhost:1"], "--address is for --engine ray"),
    (["--engine", "spark"], "invalid choice"),
]


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "src"
    photo(folder / "astronaut.jpg")
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": [],
                                                    "categories": [{"id": 1, "name": "person"}]}))
    return folder


def check_usage_error(code, err, fragment):
    assert code == 2, err
    assert len(err) == 1, err  # one line, never a traceback
    assert err[0].startswith("understudy") and fragment in err[0], err


@pytest.mark.parametrize("extra,fragment", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_flag_errors(capsys, tmp_path, src, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    before = snapshot(src)
    dst = tmp_path / "dst"
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet", *extra)
    check_usage_error(code, err, fragment)
    assert not dst.exists(), "a usage error created DST"
    assert snapshot(src) == before


def test_place_errors(capsys, tmp_path, src):
    """Missing SRC, DST inside SRC, DST equal to an input file, DST a file."""
    cases = [
        ([tmp_path / "nope"], tmp_path / "d1", "does not exist"),
        ([src, tmp_path / "nope"], tmp_path / "d2", "does not exist"),
        ([src], src / "out", "inside input folder"),
        ([src / "astronaut.jpg"], src / "astronaut.jpg", "is the input file"),
        ([src], tmp_path, "lies inside output folder"),
    ]
    for sources, dst, fragment in cases:
        code, err = cli(capsys, "anonymize", *sources, "-o", dst, "--quiet")
        check_usage_error(code, err, fragment)
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()
    assert not (src / "out").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, err = cli(capsys, "anonymize", src, "-o", afile, "--quiet")
    check_usage_error(code, err, "not a folder")
    assert afile.read_text() == "x"


def test_existing_dst_is_left_alone_on_a_usage_error(capsys, tmp_path, src):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--method", "blur:nope")
    check_usage_error(code, err, "no preset")
    assert sorted(p.name for p in dst.iterdir()) == ["keep.txt"]


def test_the_count_of_cases():
    """docs/reliability.md reports this count; keep them in step."""
    assert len(CASES) + 6 + 1 == 38
