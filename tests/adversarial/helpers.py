"""Shared pieces of the adversarial suite (imported as ``adversarial.helpers``): a CLI call
that returns exit code and stderr lines, bad files of every kind, and the checks every
hostile case must pass (originals untouched, one line per failure, nothing half-written)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from understudy.cli import main


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    """``understudy ARGS`` in this process: (exit code, stderr lines)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err.splitlines()


def audit(dst: Path) -> list[dict]:
    """Every row of DST's audit; the raw bytes must be valid UTF-8 JSON lines."""
    data = (dst / "audit.jsonl").read_bytes()
    data.decode("utf-8")  # a non-UTF-8 file name must not make the audit unreadable
    return [json.loads(line) for line in data.splitlines()]


def snapshot(folder: Path) -> dict[bytes, bytes]:
    """Every regular file under ``folder`` (not following links) by its path bytes."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    out[os.fsencode(path)] = fh.read()
    return out


def sample(name: str = "astronaut.jpg") -> Path:
    from understudy.samples import SAMPLES_DIR

    return SAMPLES_DIR / name


def photo(path: Path, source: str = "astronaut.jpg") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample(source), path)
    return path


def small_images(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` small PNG/JPEG images of noise (fast to process), plus the sample photos."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        ext = ".png" if i % 2 else ".jpg"
        Image.fromarray(rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)).save(
            folder / f"img{i:03d}{ext}")
    photo(folder / "astronaut.jpg")
    return folder


def no_temp_files(dst: Path) -> bool:
    from understudy.io.files import TEMP_PREFIX

    return not any(name.startswith(TEMP_PREFIX) for _r, _d, names in os.walk(dst)
                   for name in names)
