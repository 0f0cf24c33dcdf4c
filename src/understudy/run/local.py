"""The local batch runner: inputs → anonymized outputs + ``audit.jsonl``, resumable.

Memory stays flat: inputs are discovered lazily and at most ``2 × workers`` are in flight.
Each output is written atomically *before* its audit row, so a run killed with SIGKILL and
resumed loses nothing and duplicates nothing.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from understudy.io.audit import AUDIT_NAME, AuditLog, Summary, file_sha256
from understudy.errors import InputError, UsageError
from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
from understudy.scene import Frame, Result

DEFAULT_MAX_PIXELS = 100_000_000


@dataclass
class RunOptions:
    sources: list[str]
    destination: str
    anonymize: AnonymizeOptions = field(default_factory=AnonymizeOptions)
    resume: bool = False
    workers: int = 1
    keep_audio: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.sources:
            raise UsageError("give at least one input file or folder")
        if self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")
        if self.max_pixels < 1:
            raise UsageError(f"--max-pixels must be >= 1, got {self.max_pixels}")


def output_path(destination: Path, relative: PurePosixPath, variant: str) -> Path:
    return destination / variant / relative if variant else destination / relative


def output_name(relative: PurePosixPath, variant: str) -> str:
    return str(PurePosixPath(variant) / relative) if variant else str(relative)


def process_item(anonymizer: Anonymizer, item, destination: Path, options: RunOptions,
                 done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Anonymize one input into every variant's output; one audit row per output.

    Never raises for a bad input: the failure is the row. Outputs already done (same
    content hash, output present) are reported as ``resumed`` and left alone.
    """
    started = time.perf_counter()
    base = {"source": str(item.path), "kind": item.kind, "method": anonymizer.options.method,
            "target": anonymizer.options.perception.target, "seed": anonymizer.options.seed}
    names = [(variant, output_name(item.relative, variant)) for variant, _ in anonymizer.variants]
    if item.error:
        return [{**base, "output": name, "status": "failed", "error": item.error}
                for _, name in names]
    try:
        digest = file_sha256(item.path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return [{**base, "output": name, "status": "failed", "error": reason} for _, name in names]
    base["sha256"] = digest
    todo = [(variant, name, method) for (variant, name), (_, method)
            in zip(names, anonymizer.variants)
            if not (options.resume and done.get(name, {}).get("sha256") == digest
                    and output_path(destination, item.relative, variant).exists())]
    rows = [{**base, "output": name, "status": "resumed"} for variant, name in names
            if name not in {n for _, n, _ in todo}]
    if not todo:
        return rows
    try:
        if item.kind == "video":
            rows += _process_video(anonymizer, item, destination, options, todo, base)
        else:
            rows += _process_image(anonymizer, item, destination, options, todo, base)
    except InputError as exc:
        rows += [{**base, "output": name, "status": "failed", "error": str(exc)}
                 for _, name, _ in todo]
    except Exception as exc:  # keep the batch going; the row says what broke
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        rows += [{**base, "output": name, "status": "failed", "error": f"internal error: {message}"}
                 for _, name, _ in todo]
    seconds = round(time.perf_counter() - started, 3)
    for row in rows:
        row.setdefault("seconds", seconds)
    return rows


def _process_image(anonymizer, item, destination, options, todo, base) -> list[dict[str, Any]]:
    from understudy.io.images import read_image, write_image

    picture = read_image(item.path, max_pixels=options.max_pixels)
    scene = anonymizer.perceiver.perceive(Frame(picture.rgb, str(item.relative), 0))
    rows = []
    for variant, name, method in todo:
        result = anonymizer.apply(scene, method)
        target = output_path(destination, item.relative, variant)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, picture, result.image)
        rows.append({**base, "output": name, "status": "ok", "frames": 1,
                     "size": [int(picture.rgb.shape[1]), int(picture.rgb.shape[0])],
                     "regions": [r.to_json() for r in result.regions],
                     "notes": list(result.notes)})
    return rows


def _process_video(anonymizer, item, destination, options, todo, base) -> list[dict[str, Any]]:
    from understudy.io.video import transcode

    rows = []
    for variant, name, method in todo:
        counts: Counter = Counter()
        tracks: dict[str, dict[str, Any]] = {}
        notes: dict[str, None] = {}
        frames = 0

        def process(images: Iterator, method=method) -> Iterator:
            nonlocal frames
            scene_frames = (Frame(img, str(item.relative), i) for i, img in enumerate(images))
            for scene, result in anonymizer.stream(scene_frames, method):
                frames += 1
                _tally(result, scene.frame.index, counts, tracks, notes)
                yield result.image

        target = output_path(destination, item.relative, variant)
        target.parent.mkdir(parents=True, exist_ok=True)
        info = transcode(item.path, target, process, keep_audio=options.keep_audio)
        rows.append({**base, "output": name, "status": "ok", "frames": frames,
                     "size": [info.width, info.height], "fps": round(float(info.fps), 3),
                     "audio": bool(info.has_audio and options.keep_audio),
                     "counts": {f"{k}:{o}": n for (k, o), n in sorted(counts.items())},
                     "tracks": list(tracks.values()), "notes": list(notes)})
    return rows


def _tally(result: Result, index: int, counts: Counter, tracks: dict, notes: dict) -> None:
    """Aggregate a video's per-frame region records: counts, and one entry per track."""
    for region in result.regions:
        counts[(region.kind, region.outcome.value)] += 1
        if region.track_id is None:
            continue
        key = f"{region.kind}:{region.track_id}"
        track = tracks.setdefault(key, {"kind": region.kind, "track_id": int(region.track_id),
                                        "first_frame": index, "frames": 0, "outcomes": {}})
        track["last_frame"] = index
        track["frames"] += 1
        track["outcomes"][region.outcome.value] = track["outcomes"].get(region.outcome.value, 0) + 1
        if region.attributes and "attributes" not in track:
            track["attributes"] = region.attributes
    for note in result.notes:
        notes[note] = None


# --- running many inputs -------------------------------------------------------------------

_WORKER: Anonymizer | None = None


def _init_worker(options: AnonymizeOptions) -> None:
    global _WORKER  # one model set per worker process, loaded once
    _WORKER = Anonymizer(options)


def _work(item, destination: Path, options: RunOptions, done) -> list[dict[str, Any]]:
    assert _WORKER is not None
    return process_item(_WORKER, item, destination, options, done)


def run(options: RunOptions, on_row: Callable[[dict[str, Any]], None] | None = None,
        anonymizer: Anonymizer | None = None) -> Summary:
    """Anonymize every input of ``options``; returns the totals. ``on_row`` sees each row."""
    from understudy.io.files import check_destination, discover, remove_stale_temps

    check_destination(options.sources, options.destination)
    destination = Path(options.destination)
    destination.mkdir(parents=True, exist_ok=True)
    if options.resume:
        remove_stale_temps(destination)  # half-written outputs of a killed run
    audit = AuditLog(destination / AUDIT_NAME)
    done = audit.done() if options.resume else {}
    summary = Summary()
    started = time.perf_counter()

    def record(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["status"] != "resumed":
                audit.write(row)
            summary.add(row)
            if on_row is not None:
                on_row(row)

    items = discover(options.sources)
    try:
        if options.workers == 1:
            worker = anonymizer or Anonymizer(options.anonymize)
            for item in items:
                record(process_item(worker, item, destination, options, done))
        else:
            _run_pool(items, destination, options, done, record)
    finally:
        audit.close()
    summary.seconds = time.perf_counter() - started
    carry_run_annotations(options, destination)
    return summary


def _run_pool(items, destination, options, done, record) -> None:
    """``workers`` processes, each with its own models; at most 2 × workers items in flight."""
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(options.workers, mp_context=context,
                                     initializer=_init_worker,
                                     initargs=(options.anonymize,)) as pool:
        pending: set[futures.Future] = set()
        variants = [variant for variant, _ in options.anonymize.variants]
        for item in items:
            # Ship each worker only the audit rows of this item's outputs, not the whole log.
            names = [output_name(item.relative, variant) for variant in variants]
            mine = {name: done[name] for name in names if name in done}
            pending.add(pool.submit(_work, item, destination, options, mine))
            if len(pending) >= 2 * options.workers:
                finished, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in finished:
                    record(future.result())
        for future in futures.as_completed(pending):
            record(future.result())


def carry_run_annotations(options: RunOptions, destination: Path) -> None:
    """Write the COCO annotations of the processed images next to the outputs (people keep
    their places and poses, so the annotations stay valid)."""
    annotations = options.anonymize.perception.annotations
    if not annotations:
        return
    from understudy.io.audit import read_rows
    from understudy.io.coco import carry_annotations

    processed = sorted({row["output"] for row in read_rows(destination / AUDIT_NAME)
                        if row.get("status") == "ok"})
    carry_annotations(annotations, str(destination), processed)
