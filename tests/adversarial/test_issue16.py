"""One test per defect of issue 16 that lives in the runner and the CLI (the others: the
guard in tests/core/test_failclosed.py, COCO in tests/perception/test_coco.py, the memory
budget in tests/io/test_io_images.py, rating in tests/rating/test_rating_hardening.py).
Each failed on the code before its fix."""

from __future__ import annotations

import os

import pytest

from adversarial.helpers import audit, cli, no_temp_files, photo, snapshot
from understudy.io.files import TEMP_PREFIX


def test_1_no_write_through_a_symlinked_folder_inside_dst(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "sub" / "photo.jpg")
    dst.mkdir()
    os.symlink(os.path.join("..", "s", "sub"), dst / "sub")
    before = snapshot(src)
    for _ in range(2):
        code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet")
        assert code == 1 and len(err) == 1 and "symlink" in err[0], err
    assert snapshot(src) == before, "the original was overwritten"
    rows = audit(dst)
    assert [r["status"] for r in rows] == ["failed", "failed"] and "link" in rows[0]["error"]


def test_2_a_name_that_is_not_utf8_is_processed_and_recorded(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "a.jpg")
    photo(src / "z.jpg")
    bad = os.path.join(os.fsencode(src), b"bad\xff.jpg")
    with open(bad, "wb") as fh:
        fh.write((src / "a.jpg").read_bytes())
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet")
    assert code == 0, err
    rows = {os.fsencode(r["output"]): r for r in audit(dst)}
    assert set(rows) == {b"a.jpg", b"bad\xff.jpg", b"z.jpg"}
    assert all(r["status"] == "ok" for r in rows.values())
    assert os.fsencode(rows[b"bad\xff.jpg"]["source"]) == bad  # lossless
    assert os.path.isfile(os.path.join(os.fsencode(dst), b"bad\xff.jpg"))
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--resume")
    assert code == 0 and len(audit(dst)) == 3, err


def test_4_resume_redoes_outputs_made_with_other_settings(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "a.jpg")
    photo(src / "b.jpg", "cameraman.jpg")
    assert cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--method", "blur:weak")[0] == 0
    weak = (dst / "a.jpg").read_bytes()
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--resume",
                    "--method", "maskout", "--target", "people")
    assert code == 0, err
    rows = audit(dst)
    assert [r["method"] for r in rows] == ["blur:weak"] * 2 + ["maskout"] * 2
    assert rows[2]["settings"] != rows[0]["settings"]
    assert (dst / "a.jpg").read_bytes() != weak
    # The same settings again: nothing to redo.
    code, _ = cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--resume",
                  "--method", "maskout", "--target", "people")
    assert code == 0 and len(audit(dst)) == 4
    # Another seed is another setting.
    cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--resume", "--method", "maskout",
        "--target", "people", "--seed", "3")
    assert len(audit(dst)) == 6


def test_6_links_into_dst_are_not_fed_back(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "photo.jpg")
    os.symlink(dst, src / "zlink", target_is_directory=True)
    for _ in range(3):
        code, err = cli(capsys, "anonymize", src, "-o", dst)
        assert code == 0
    outputs = sorted(str(p.relative_to(dst)) for p in dst.rglob("*.jpg"))
    assert outputs == ["photo.jpg"], outputs
    assert any("skipped" in line and "output folder" in line for line in err), err
    assert {r["status"] for r in audit(dst) if r["output"] == "zlink"} == {"skipped"}


def test_8_a_negative_seed_is_a_usage_error_before_any_work(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "photo.jpg")
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--seed", "-5")
    assert code == 2 and len(err) == 1 and "--seed" in err[0], err
    assert not dst.exists()


def test_9_control_characters_cannot_forge_a_line(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    src.mkdir()
    (src / "x.jpg\nunderstudy: all good.jpg").write_bytes(b"not an image")
    (src / "y\x1b[2K.jpg").write_bytes(b"")
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet")
    assert code == 1 and len(err) == 2, err
    assert "x.jpg\\nunderstudy: all good.jpg" in err[0] and "\\x1b[2K" in err[1]
    code, err = cli(capsys, "anonymize", str(src / "new\nline.jpg"), "-o", dst)
    assert code == 2 and len(err) == 1 and "new\\nline.jpg" in err[0]


def test_11_small_ones(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    photo(src / "photo.jpg")
    (src / "empty.jpg").write_bytes(b"")
    (src / "anim.gif").write_bytes(b"GIF89a")
    # the failure line names the file once
    code, err = cli(capsys, "anonymize", src, "-o", dst)
    assert code == 1
    line = next(x for x in err if "empty.jpg" in x)
    assert line.count("empty.jpg") == 1 and line.endswith("empty file (0 bytes)"), line
    # files we do not read are counted and listed
    assert any("skipped" in x and "1 file(s)" in x and ".gif" in x for x in err), err
    assert [r["status"] for r in audit(dst) if r["output"] == "anim.gif"] == ["skipped"]
    # stale temp files go on every run, not only with --resume
    stale = dst / f"{TEMP_PREFIX}dead-photo.jpg"
    stale.write_bytes(b"half")
    cli(capsys, "anonymize", src, "-o", dst, "--quiet")
    assert not stale.exists() and no_temp_files(dst)
    # a missing SRC, a bad preset or a bad option creates no DST
    for extra in (["--method", "blur:nope"], ["--option", "nope=1"]):
        code, _ = cli(capsys, "anonymize", src, "-o", tmp_path / "new", *extra)
        assert code == 2 and not (tmp_path / "new").exists()
    code, _ = cli(capsys, "anonymize", tmp_path / "missing", "-o", tmp_path / "new")
    assert code == 2 and not (tmp_path / "new").exists()


@pytest.mark.slow
def test_2_with_two_workers_every_output_has_its_row(capsys, tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    for name in ("a.jpg", "c.jpg", "d.jpg"):
        photo(src / name)
    with open(os.path.join(os.fsencode(src), b"b\xff.jpg"), "wb") as fh:
        fh.write((src / "a.jpg").read_bytes())
    code, err = cli(capsys, "anonymize", src, "-o", dst, "--quiet", "--workers", "2")
    assert code == 0, err
    rows = audit(dst)
    assert sorted(os.fsencode(r["output"]) for r in rows if r["status"] == "ok") == \
        [b"a.jpg", b"b\xff.jpg", b"c.jpg", b"d.jpg"]
