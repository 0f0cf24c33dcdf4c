"""python benchmarks/scale.py [--sizes 100,1000,10000] [--workers 1,2] [--ray-size 1000]

Dataset-size benchmark of `understudy anonymize --method blur --target faces`:

* the local runner on 100, 1,000 and 10,000 small generated images (64x64 PNG): images/s
  and peak RSS. Memory must stay flat: the 10,000 run within 10 % of the 1,000 run;
* 1 vs 2 local workers on the same images;
* the Ray runner (`--engine ray`, a local instance started by the command) against the
  local runner on the same images: start-up cost and steady throughput.

Every measurement is one fresh CLI process, as a user runs it. While it runs, /proc is
sampled every 0.1 s for the RSS of the process tree (the CLI and every worker, actor or
Ray daemon it started) and for the number of audit rows, which separates start-up (time
to the first row) from steady throughput (rows per second after it). The peak RSS of the
CLI process alone is its exact ``ru_maxrss`` from ``wait4``. Run it on an idle machine;
on a shared one compare the ratios within one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PAGE = os.sysconf("SC_PAGE_SIZE")


def make_images(root: Path, count: int, seed: int = 0) -> None:
    """``count`` 64x64 PNGs, 100 per folder (a flat folder of 10,000 files is not typical)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / f"{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        # Smooth noise compresses like a photo, not like white noise.
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((64, 64), Image.BILINEAR)
        image.save(folder / f"{i:06d}.png")


def subset(full: Path, root: Path, count: int) -> Path:
    """The first ``count`` images of ``full`` as hard links (no copies on disk)."""
    target = root / f"n{count}"
    if target.exists():
        return target
    for path in sorted(full.rglob("*.png"))[:count]:
        link = target / path.relative_to(full)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, link)
    return target


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def audit_rows(dst: Path) -> int:
    try:
        with open(dst / "audit.jsonl", "rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


def measure(label: str, src: Path, dst: Path, images: int, extra: list[str]) -> dict:
    shutil.rmtree(dst, ignore_errors=True)
    command = [str(Path(sys.executable).parent / "understudy"), "anonymize", str(src),
               "-o", str(dst), "--method", "blur", "--target", "faces", "--quiet", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_tree, first_row = 0, None
    while True:
        try:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            break
        peak_tree = max(peak_tree, sum(rss(p) for p in tree(process.pid)))
        if first_row is None and audit_rows(dst) > 0:
            first_row = time.perf_counter() - started
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{label} failed ({process.returncode}): {process.stderr.read()[-2000:]}")
    rows = audit_rows(dst)
    if rows != images:
        raise SystemExit(f"{label}: {rows} audit rows for {images} images")
    first_row = first_row if first_row is not None else seconds
    steady = (images - 1) / max(seconds - first_row, 1e-9) if images > 1 else float("nan")
    result = {"label": label, "images": images, "seconds": round(seconds, 2),
              "images_per_s": round(images / seconds, 1),
              "startup_s": round(first_row, 2), "steady_images_per_s": round(steady, 1),
              "peak_rss_cli_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
              "peak_rss_tree_mb": round(peak_tree / 2**20, 1)}
    print(json.dumps(result), flush=True)
    return result


def table(results: list[dict]) -> str:
    lines = ["| run | images | wall s | images/s | start-up s | steady images/s | "
             "peak RSS CLI MB | peak RSS all MB |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['images']:,} | {r['seconds']} | {r['images_per_s']} | "
                     f"{r['startup_s']} | {r['steady_images_per_s']} | {r['peak_rss_cli_mb']} | "
                     f"{r['peak_rss_tree_mb']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--workers", default="1,2", help="local worker counts, on --ray-size images")
    parser.add_argument("--ray-size", type=int, default=1000, help="0 skips the Ray runs")
    parser.add_argument("--ray-actors", default="1,2")
    parser.add_argument("--work-dir", help="keep images here (default: a temp folder)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    actors = [int(a) for a in args.ray_actors.split(",")]
    largest = max(sizes + [args.ray_size])

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="understudy-scale-"))
    full = work / "images"
    if len(list(full.rglob("*.png"))) < largest:
        shutil.rmtree(full, ignore_errors=True)
        started = time.perf_counter()
        make_images(full, largest)
        print(f"made {largest} images in {time.perf_counter() - started:.1f} s", flush=True)
    out = work / "out"
    results = []
    for size in sizes:
        results.append(measure(f"local, 1 worker", subset(full, work, size), out, size,
                               ["--workers", "1"]))
    same = args.ray_size or max(sizes)
    for count in workers:
        if count == 1 and same in sizes:
            continue  # measured above
        results.append(measure(f"local, {count} workers", subset(full, work, same), out, same,
                               ["--workers", str(count)]))
    if args.ray_size:
        for count in actors:
            results.append(measure(f"ray, {count} actor(s)", subset(full, work, args.ray_size),
                                   out, args.ray_size,
                                   ["--engine", "ray", "--actors", str(count)]))
    print()
    print(table(results))
    by = {(r["label"], r["images"]): r for r in results}
    if 1000 in sizes and 10000 in sizes:
        a, b = by[("local, 1 worker", 1000)], by[("local, 1 worker", 10000)]
        print(f"\nRSS 10,000 vs 1,000 images (CLI process): "
              f"{b['peak_rss_cli_mb'] / a['peak_rss_cli_mb'] - 1:+.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
