"""SIGKILL in the middle of a run loses nothing and duplicates nothing after --resume.

The CLI runs in a subprocess on a folder of small images; the test watches the audit grow
and kills the run (or one Ray actor) after a few rows, resumes, and checks that every input
has exactly one ``ok`` row and an output that decodes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scale.scale_helpers import assert_complete, audit_rows, write_inputs


def cli(*args: str) -> list[str]:
    # The installed console script, exactly what a user runs.
    return [str(Path(sys.executable).parent / "understudy"), "anonymize", *args, "--quiet"]


def rows_written(dst: Path) -> int:
    try:
        return (dst / "audit.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def start(command: list[str], log: Path) -> subprocess.Popen:
    # A new session: the test can kill the run with every process it started.
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for_rows(process: subprocess.Popen, dst: Path, rows: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while rows_written(dst) < rows:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, f"no {rows} audit rows after {timeout} s"
        time.sleep(0.005)


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (Linux /proc), e.g. the Ray instance a CLI run started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_local_run_killed_mid_run_resumes_without_loss(tmp_path, workers):
    src = write_inputs(tmp_path / "in", generated=400)  # still running when the kill lands
    dst = tmp_path / "out"
    log = tmp_path / "log.txt"
    run = start(cli(str(src), "-o", str(dst), "--workers", workers), log)
    wait_for_rows(run, dst, rows=10, timeout=120)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    interrupted = rows_written(dst)
    assert interrupted < 403, "killed too late to prove anything"
    resumed = subprocess.run(cli(str(src), "-o", str(dst), "--resume", "--workers", workers),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1, resumed.stderr  # 1: the corrupt input failed, as it should
    assert "broken.jpg" in resumed.stderr
    assert_complete(src, dst)


@pytest.mark.slow
def test_ray_run_survives_a_killed_actor_and_a_killed_driver(tmp_path):
    # Enough inputs that the run is still going when the kill lands (~100 images/s here).
    src = write_inputs(tmp_path / "in", generated=400)
    dst = tmp_path / "out"
    ray_args = ["--engine", "ray", "--actors", "2", "--batch-size", "2"]

    # 1. Kill one actor: Ray restarts it and retries its batch; the run still finishes.
    run = start(cli(str(src), "-o", str(dst), *ray_args), tmp_path / "log1.txt")
    wait_for_rows(run, dst, rows=4, timeout=300)
    actors = [p for p in descendants(run.pid) if "AnonymizeActor" in command_line(p)]
    assert actors, "no actor process found"
    os.kill(actors[0], signal.SIGKILL)
    assert run.wait(timeout=300) == 1, (tmp_path / "log1.txt").read_text()[-2000:]
    assert_complete(src, dst)

    # 2. Kill the driver: its Ray instance goes with it; --resume finishes the job.
    dst = tmp_path / "out2"
    run = start(cli(str(src), "-o", str(dst), *ray_args), tmp_path / "log2.txt")
    wait_for_rows(run, dst, rows=4, timeout=300)
    started = descendants(run.pid)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert rows_written(dst) < 403, "killed too late to prove anything"
    # Ray's own daemons (GCS, raylet) and the actors die with their driver. Its two agent
    # processes notice the raylet is gone only after a minute or two; they are not checked.
    core = [p for p in started if "Agent" not in command_line(p)]
    deadline = time.monotonic() + 60
    while any(alive(p) for p in core) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [command_line(p)[:80] for p in core if alive(p)]
    for pid in started:  # never leave a stray Ray behind, whatever the assertion says
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"Ray processes outlived their driver: {left}"
    resumed = subprocess.run(cli(str(src), "-o", str(dst), "--resume", *ray_args),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1, resumed.stderr
    assert_complete(src, dst)
    assert sum(row["status"] == "ok" for row in audit_rows(dst)) == 402
