"""A normal run prints no third-party log line: MediaPipe's TF Lite and absl lines go to
the null device unless --verbose asks for them (a real process, so real descriptors)."""

from __future__ import annotations

import subprocess
import sys

from understudy.samples import SAMPLES_DIR

NATIVE_MARKERS = ("TensorFlow Lite", "absl::", "W0000", "I0000", ".cc:")


def _run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "understudy", "anonymize", str(SAMPLES_DIR / "astronaut.jpg"),
           "-o", str(tmp_path / f"out{len(extra)}"), "--method", "maskout", "--target",
           "people", "--quiet", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_a_successful_run_leaves_stderr_empty(tmp_path):
    quiet = _run(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    verbose = _run(tmp_path, "--verbose")
    assert verbose.returncode == 0
    # The lines are really there to hide: --verbose shows MediaPipe's own.
    assert any(m in verbose.stderr for m in NATIVE_MARKERS), verbose.stderr


def test_errors_still_reach_stderr(tmp_path):
    bad = _run(tmp_path, "--seed", "-5")
    assert bad.returncode == 2
    assert "seed" in bad.stderr and not any(m in bad.stderr for m in NATIVE_MARKERS)


def test_a_bad_input_still_gets_its_one_line(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.jpg").write_bytes(b"not a picture")
    cmd = [sys.executable, "-m", "understudy", "anonymize", str(src), "-o", str(tmp_path / "o"),
           "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "broken.jpg" in done.stderr
