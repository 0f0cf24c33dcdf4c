"""The sample images bundled with understudy (licences in data/samples/LICENSES.md)."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).parent / "data" / "samples"


def sample_paths() -> list[Path]:
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".jpg", ".png"))
