"""Temp files of other workers survive the first audit row; stale ones go when the run ends."""

from __future__ import annotations

from understudy.io.files import TEMP_PREFIX
from understudy.run.local import RunRecorder


def test_the_first_row_leaves_other_workers_temp_files_alone(tmp_path):
    """A CI run lost an output: the first row to reach the recorder removed every temp file
    in DST while another worker (a process or a Ray actor) was still writing its own, and that
    worker's rename then failed with FileNotFoundError."""
    dst = tmp_path / "out"
    (dst / "gen").mkdir(parents=True)
    busy = dst / "gen" / f"{TEMP_PREFIX}b34ccdba-img 00006.jpg"  # being written elsewhere
    busy.write_bytes(b"half an image")
    recorder = RunRecorder(dst, None)
    recorder({"status": "ok", "output": "astronaut.jpg", "frames": 1, "regions": []})
    assert busy.exists()
    # When the run ends every worker is done: what is left is a killed run's, never an output.
    recorder.finish()
    assert not busy.exists() and (dst / "audit.jsonl").is_file()
    assert recorder.summary.ok == 1
