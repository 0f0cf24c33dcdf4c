"""kill -9 at several points of a run, then ``--resume``: nothing lost, nothing duplicated,
no temp file left, originals untouched. Also the two half-states a kill can leave that a
timed kill rarely hits: a temp file mid-write and a truncated last audit line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from adversarial.helpers import audit, no_temp_files, small_images, snapshot
from understudy.io.files import TEMP_PREFIX

IMAGES = 40


def command(src: Path, dst: Path, *extra: str) -> list[str]:
    script = Path(sys.executable).parent / "understudy"
    return [str(script), "anonymize", str(src), "-o", str(dst), "--quiet", "--method",
            "pixelate", *extra]


def rows_written(dst: Path) -> int:
    try:
        return (dst / "audit.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_after(cmd: list[str], dst: Path, rows: int, seconds: float = 0.0) -> int:
    """Start ``cmd``, SIGKILL its whole process group once ``rows`` rows are in the audit
    (or after ``seconds`` when ``rows`` is 0); returns the rows written by then."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    started = time.monotonic()
    while time.monotonic() < deadline and process.poll() is None:
        if (rows and rows_written(dst) >= rows) or (not rows and time.monotonic() - started
                                                    >= seconds):
            break
        time.sleep(0.005)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return rows_written(dst)


def assert_complete(src: Path, dst: Path, redone: tuple[str, ...] = ()) -> None:
    """Every input has one ``ok`` row (two for an output deliberately ``redone``), an output
    that decodes, and DST holds nothing else."""
    expected = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    ok = Counter(r["output"] for r in audit(dst) if r["status"] == "ok")
    assert set(ok) == expected, sorted(expected ^ set(ok))[:5]
    assert all(c == 1 + (n in redone) for n, c in ok.items()), ok
    assert no_temp_files(dst)
    files = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    assert files == expected | {"audit.jsonl"}
    for name in expected:
        with Image.open(dst / name) as image:
            image.load()


@pytest.mark.parametrize("point,rows,seconds,workers", [
    ("while loading models", 0, 0.3, "1"),
    ("after the first output", 1, 0, "1"),
    ("half way", IMAGES // 2, 0, "1"),
    # Two worker processes each load the models: slow on two cores.
    pytest.param("with two workers", 5, 0, "2", marks=pytest.mark.slow),
])
def test_kill_then_resume(tmp_path, point, rows, seconds, workers):
    src, dst = small_images(tmp_path / "src", IMAGES), tmp_path / "dst"
    before = snapshot(src)
    written = kill_after(command(src, dst, "--workers", workers), dst, rows, seconds)
    assert written < IMAGES + 1, f"the run finished before the kill ({point})"
    result = subprocess.run(command(src, dst, "--resume", "--workers", workers),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert_complete(src, dst)
    assert snapshot(src) == before


def test_half_states_of_a_kill_are_repaired(tmp_path):
    src, dst = small_images(tmp_path / "src", 4), tmp_path / "dst"
    assert subprocess.run(command(src, dst), capture_output=True).returncode == 0
    # A kill mid-write leaves a temp file; a kill mid-append leaves half a line.
    (dst / f"{TEMP_PREFIX}0badc0de-img000.jpg").write_bytes(b"\xff\xd8 half")
    with open(dst / "audit.jsonl", "ab") as fh:
        fh.write(b'{"output": "img001.png", "status": "o')
    (dst / "img003.png").unlink()  # and an output lost after its row was written
    result = subprocess.run(command(src, dst, "--resume"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert_complete(src, dst, redone=("img003.png",))
    redone = [r["output"] for r in audit(dst)][5:]
    assert redone == ["img003.png"]
