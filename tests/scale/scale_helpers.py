"""Shared inputs and checks for the scale tests (imported as ``scale_helpers``): a small folder of real and generated
images, and what "nothing lost, nothing duplicated" means for a finished output folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_inputs(root: Path, generated: int, seed: int = 0) -> Path:
    """The bundled sample photos, ``generated`` small images (some with a bright oval
    "head" so faces are not the only content), one subfolder with spaces and unicode, and
    one corrupt file. Returns ``root``."""
    from understudy.samples import SAMPLES_DIR

    root.mkdir(parents=True, exist_ok=True)
    for sample in sorted(SAMPLES_DIR.glob("*.jpg")):
        shutil.copy(sample, root / sample.name)
    rng = np.random.default_rng(seed)
    sub = root / "sub dir" / "é"
    sub.mkdir(parents=True)
    for i in range(generated):
        size = (64 + 8 * (i % 3), 64)
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        folder = sub if i % 4 == 0 else root / "gen"
        folder.mkdir(exist_ok=True)
        ext = ".png" if i % 2 else ".jpg"
        Image.fromarray(image).save(folder / f"img {i:05d}{ext}")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def expected_outputs(src: Path) -> set[str]:
    """Relative paths of the inputs that decode (every one but broken.jpg)."""
    return {p.relative_to(src).as_posix() for p in src.rglob("*")
            if p.is_file() and p.name != "broken.jpg"}


def audit_rows(dst: Path) -> list[dict]:
    return [json.loads(line) for line in (dst / "audit.jsonl").read_text().splitlines()]


def assert_complete(src: Path, dst: Path) -> None:
    """Every input has exactly one ``ok`` audit row and an output that decodes; the corrupt
    input is recorded as failed; nothing else (no temp files) is left in DST."""
    expected = expected_outputs(src)
    rows = audit_rows(dst)
    ok = Counter(row["output"] for row in rows if row["status"] == "ok")
    assert set(ok) == expected, (sorted(expected - set(ok))[:5], sorted(set(ok) - expected)[:5])
    assert max(ok.values()) == 1, [name for name, n in ok.items() if n > 1][:5]
    assert all(row["status"] == "failed" for row in rows if row["output"] == "broken.jpg")
    files = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    assert files == expected | {"audit.jsonl"}, sorted(files ^ (expected | {"audit.jsonl"}))[:5]
    for name in expected:
        with Image.open(dst / name) as image:
            image.load()
            with Image.open(src / name) as original:
                assert image.size == original.size


def comparable(rows: list[dict]) -> list[str]:
    """Audit rows without timing, in a fixed order (parallel runs finish in any order)."""
    return sorted(json.dumps({k: v for k, v in row.items() if k != "seconds"}, sort_keys=True)
                  for row in rows)


def same_tree(a: Path, b: Path) -> list[str]:
    """Relative paths whose bytes differ between two output folders (audits excepted), each
    with why: missing on one side, or how many pixels differ and by how much at most."""
    names = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    names |= {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    names.discard("audit.jsonl")
    return sorted(f"{n}: {_difference(a / n, b / n)}" for n in names
                  if not ((a / n).is_file() and (b / n).is_file()
                          and (a / n).read_bytes() == (b / n).read_bytes()))


def _difference(a: Path, b: Path) -> str:
    if not (a.is_file() and b.is_file()):
        return f"only in {a.parent if a.is_file() else b.parent}"
    try:
        with Image.open(a) as x, Image.open(b) as y:
            pa, pb = np.asarray(x.convert("RGB"), np.int16), np.asarray(y.convert("RGB"), np.int16)
    except OSError as exc:
        return f"bytes differ, not both images ({exc})"
    if pa.shape != pb.shape:
        return f"sizes differ {pa.shape} vs {pb.shape}"
    moved = np.abs(pa - pb).max(axis=-1)
    return f"{int((moved > 0).sum())} pixels differ, by up to {int(moved.max())} levels"
