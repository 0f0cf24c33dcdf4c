"""The local batch runner: inputs → anonymized outputs + ``audit.jsonl``, resumable.

Memory stays flat: inputs are discovered lazily and at most ``2 × workers`` are in flight.
Each output is written atomically *before* its audit row, so a run killed with SIGKILL and
resumed loses nothing and duplicates nothing. ``--resume`` redoes an output whose source
changed (content hash) or whose settings changed (the ``settings`` fingerprint of method,
options, target and seed in every row). Nothing is created before the run is known to be
valid: a missing input, an unknown preset or a bad option leaves no DST behind.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import hashlib
import json
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from understudy.io.audit import AUDIT_NAME, AuditLog, Summary, file_sha256, resume_entries
from understudy.errors import InputError, UnderstudyError, UsageError
from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
from understudy.scene import Frame, Result

DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_MAX_MEMORY = 2 * 1024**3  # bytes per worker for one image (io.images explains the estimate)
MAX_SEED = 2**32 - 1  # numpy and torch seed from 32-bit words; larger seeds are not portable


@dataclass
class RunOptions:
    sources: list[str]
    destination: str
    anonymize: AnonymizeOptions = field(default_factory=AnonymizeOptions)
    resume: bool = False
    workers: int = 1
    keep_audio: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int | None = DEFAULT_MAX_MEMORY  # None: no budget

    def __post_init__(self) -> None:
        if not self.sources:
            raise UsageError("give at least one input file or folder")
        if self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")
        if self.max_pixels < 1:
            raise UsageError(f"--max-pixels must be >= 1, got {self.max_pixels}")
        if self.max_memory is not None and self.max_memory < 1:
            raise UsageError(f"--max-memory must be > 0, got {self.max_memory} bytes")
        if not 0 <= self.anonymize.seed <= MAX_SEED:
            raise UsageError(f"--seed must be in 0..{MAX_SEED}, got {self.anonymize.seed}")


def output_path(destination: Path, relative: PurePosixPath, variant: str) -> Path:
    return destination / variant / relative if variant else destination / relative


def output_name(relative: PurePosixPath, variant: str) -> str:
    return str(PurePosixPath(variant) / relative) if variant else str(relative)


def settings_fingerprint(options: AnonymizeOptions, overrides: dict[str, Any],
                         keep_audio: bool) -> str:
    """16 hex digits naming everything that decides an output's pixels: method, its options
    (with the variant's overrides), target, seed and the other perception choices. Paths
    that only say where caches live are left out; they do not change a pixel."""
    perception = {k: v for k, v in dataclasses.asdict(options.perception).items()
                  if k not in ("cache_dir", "image_root")}
    settings = {"method": options.method, "options": {**options.method_options, **overrides},
                "seed": options.seed, "perception": perception, "keep_audio": keep_audio}
    text = json.dumps(settings, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def failure_reason(exc: BaseException, *names: object) -> str:
    """An error's message without a leading "<path>: " that the row already names in
    ``source`` (a failure line read "P: P: empty file")."""
    message = str(exc)
    for name in names:
        prefix = f"{name}: "
        if name and message.startswith(prefix):
            return message[len(prefix):]
    return message


def process_item(anonymizer: Anonymizer, item, destination: Path, options: RunOptions,
                 done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Anonymize one input into every variant's output; one audit row per output.

    Never raises for a bad input: the failure is the row. With ``options.resume``, outputs
    whose ``done`` entry has the same content hash and settings, and that still exist, are
    reported as ``resumed`` and left alone.
    """
    started = time.perf_counter()
    base = {"source": str(item.path), "kind": item.kind, "method": anonymizer.options.method,
            "target": anonymizer.options.perception.target, "seed": anonymizer.options.seed}
    if item.skip:
        name = str(item.relative)
        status = "resumed" if done.get(name, {}).get("skipped") == item.skip else "skipped"
        return [{"source": str(item.path), "output": name, "status": status,
                 "reason": item.skip}]
    overrides = [o for _, o in options.anonymize.variants] \
        if len(options.anonymize.variants) == len(anonymizer.variants) else [{}]
    names = [(variant, output_name(item.relative, variant),
              settings_fingerprint(anonymizer.options, extra, options.keep_audio))
             for (variant, _), extra in zip(anonymizer.variants, overrides)]
    if item.error:
        return [{**base, "output": name, "status": "failed", "error": item.error}
                for _, name, _ in names]
    try:
        digest = file_sha256(item.path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return [{**base, "output": name, "status": "failed", "error": reason}
                for _, name, _ in names]
    base["sha256"] = digest
    todo, rows = [], []
    for (variant, name, settings), (_, method) in zip(names, anonymizer.variants):
        entry = done.get(name, {})
        if options.resume and entry.get("sha256") == digest \
                and entry.get("settings") == settings \
                and output_path(destination, item.relative, variant).exists():
            rows.append({**base, "output": name, "status": "resumed"})
        else:
            todo.append((variant, name, method, {**base, "settings": settings}))
    if not todo:
        return rows
    try:
        if item.kind == "video":
            rows += _process_video(anonymizer, item, destination, options, todo)
        else:
            rows += _process_image(anonymizer, item, destination, options, todo)
    except InputError as exc:
        reason = failure_reason(exc, item.path, item.relative)
        rows += [{**row, "output": name, "status": "failed", "error": reason}
                 for _, name, _, row in todo]
    except Exception as exc:  # keep the batch going; the row says what broke
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        rows += [{**row, "output": name, "status": "failed", "error": f"internal error: {message}"}
                 for _, name, _, row in todo]
    seconds = round(time.perf_counter() - started, 3)
    for row in rows:
        row.setdefault("seconds", seconds)
    return rows


def _target(destination: Path, item, variant: str, options: RunOptions) -> Path:
    from understudy.io.files import safe_output

    return safe_output(destination, PurePosixPath(output_name(item.relative, variant)),
                       options.sources)


def _process_image(anonymizer, item, destination, options, todo) -> list[dict[str, Any]]:
    from understudy.io.images import read_image, write_image

    picture = read_image(item.path, max_pixels=options.max_pixels, max_memory=options.max_memory)
    scene = anonymizer.perceiver.perceive(Frame(picture.rgb, str(item.relative), 0))
    rows = []
    for variant, name, method, base in todo:
        result = anonymizer.apply(scene, method)
        write_image(_target(destination, item, variant, options), picture, result.image)
        rows.append({**base, "output": name, "status": "ok", "frames": 1,
                     "size": [int(picture.rgb.shape[1]), int(picture.rgb.shape[0])],
                     "regions": [r.to_json() for r in result.regions],
                     "notes": list(result.notes), **_scope(result)})
    return rows


def _process_video(anonymizer, item, destination, options, todo) -> list[dict[str, Any]]:
    from understudy.io.video import transcode

    rows = []
    for variant, name, method, base in todo:
        # Mask-out's stand-in is the fail-closed fill itself: no flicker between the two.
        tally = VideoTally(fill_replaces=getattr(method, "name", "") == "maskout")
        scope: dict[str, str] = {}

        def process(images: Iterator, method=method) -> Iterator:
            scene_frames = (Frame(img, str(item.relative), i) for i, img in enumerate(images))
            for scene, result in anonymizer.stream(scene_frames, method):
                tally.add(result, scene.frame.index)
                scope.update(_scope(result))
                yield result.image

        target = _target(destination, item, variant, options)
        info = transcode(item.path, target, process, keep_audio=options.keep_audio)
        rows.append({**base, "output": name, "status": "ok", "frames": tally.frames,
                     "size": [info.width, info.height], "fps": round(float(info.fps), 3),
                     "audio": bool(info.has_audio and options.keep_audio),
                     **tally.fields(), **scope})
    return rows


def _scope(result: Result) -> dict[str, str]:
    """``{"scope": "scene"}`` for a method that regenerates the whole image on purpose;
    nothing for the usual region-only change, so those rows stay as they were."""
    return {} if result.scope == "regions" else {"scope": result.scope}


class VideoTally:
    """A video's per-frame region records summed up for its audit row: counts by kind and
    outcome, and one entry per track with its outcomes, the frames inside its span where it
    had no region (``missed``) and its ``alternations``: switches between a stand-in and a
    masked figure on consecutive frames, the flicker a viewer sees (issue 20)."""

    def __init__(self, fill_replaces: bool = False) -> None:
        self.fill_replaces = fill_replaces
        self.frames = 0
        self.counts: Counter = Counter()
        self.tracks: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, None] = {}
        self._last: dict[str, tuple[int, str]] = {}  # track key -> (frame, outcome)

    def add(self, result: Result, index: int) -> None:
        self.frames += 1
        for region in result.regions:
            outcome = region.outcome.value
            self.counts[(region.kind, outcome)] += 1
            if region.track_id is None:
                continue
            key = f"{region.kind}:{region.track_id}"
            track = self.tracks.setdefault(key, {
                "kind": region.kind, "track_id": int(region.track_id), "first_frame": index,
                "frames": 0, "outcomes": {}, "missed": 0, "alternations": 0})
            last = self._last.get(key)
            if last is not None:
                track["missed"] += index - last[0] - 1
                if index == last[0] + 1 and self._shown(last[1]) != self._shown(outcome):
                    track["alternations"] += 1
            self._last[key] = (index, outcome)
            track["last_frame"] = index
            track["frames"] += 1
            track["outcomes"][outcome] = track["outcomes"].get(outcome, 0) + 1
            if region.attributes and "attributes" not in track:
                track["attributes"] = region.attributes
        for note in result.notes:
            self.notes[note] = None

    def _shown(self, outcome: str) -> str:
        """What a viewer sees of a region: a stand-in (or blur), a masked figure, nothing."""
        if outcome == "replaced" and not self.fill_replaces:
            return "stand-in"
        return "mask" if outcome in ("replaced", "masked") else outcome

    def fields(self) -> dict[str, Any]:
        return {"counts": {f"{k}:{o}": n for (k, o), n in sorted(self.counts.items())},
                "tracks": list(self.tracks.values()),
                "alternations": sum(t["alternations"] for t in self.tracks.values()),
                "notes": list(self.notes)}




# --- the output folder and its audit, shared with the Ray runner -----------------------------

class RunRecorder:
    """Appends rows to ``DST/audit.jsonl`` and sums them up; ``on_row`` sees each row.

    DST is created only when the first row arrives (or at ``finish``), so an error found
    before any input was processed (a missing SRC, an unknown preset, a bad option, raised
    in a worker too) leaves no empty DST behind. Temp files of a killed run are removed at
    ``finish`` of every run, not only with ``--resume``: they are never outputs. Not earlier:
    when the first row arrives, other workers (processes, Ray actors) are still writing
    their own temp files into DST, and removing those made their rename fail (a CI run lost
    an output that way)."""

    def __init__(self, destination: Path, on_row: Callable[[dict[str, Any]], None] | None):
        self.destination = Path(destination)
        self.on_row = on_row
        self.summary = Summary()
        self._audit: AuditLog | None = None

    def _open(self) -> AuditLog:
        if self._audit is None:
            self.destination.mkdir(parents=True, exist_ok=True)
            self._audit = AuditLog(self.destination / AUDIT_NAME)
        return self._audit

    def __call__(self, row: dict[str, Any]) -> None:
        if row["status"] != "resumed":
            self._open().write(row)
        self.summary.add(row)
        if self.on_row is not None:
            self.on_row(row)

    def finish(self) -> None:
        """A finished run leaves DST and its audit even when there was nothing to do, and no
        temp file: every worker is done writing by now."""
        from understudy.io.files import remove_stale_temps

        self._open()
        remove_stale_temps(self.destination)
        self.close()

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()


def resume_state(options: RunOptions) -> dict[str, dict[str, Any]]:
    """The resume entries of DST's audit (empty without ``--resume``)."""
    if not options.resume:
        return {}
    return resume_entries(Path(options.destination) / AUDIT_NAME)


def entries_for(item, variants: list[str], done: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """The resume entries of one item's outputs: what a worker needs, not the whole log."""
    names = [str(item.relative)] if item.skip else \
        [output_name(item.relative, variant) for variant in variants]
    return {name: done[name] for name in names if name in done}


# --- running many inputs -------------------------------------------------------------------

_WORKER: Anonymizer | UnderstudyError | None = None


def _init_worker(options: AnonymizeOptions) -> None:
    global _WORKER  # one model set per worker process, loaded once
    try:
        _WORKER = Anonymizer(options)
    except UnderstudyError as exc:  # raised again by each task: a usage error, exit 2
        _WORKER = exc


def _work(item, destination: Path, options: RunOptions, done) -> list[dict[str, Any]]:
    if isinstance(_WORKER, UnderstudyError):
        raise _WORKER
    assert _WORKER is not None
    return process_item(_WORKER, item, destination, options, done)


def run(options: RunOptions, on_row: Callable[[dict[str, Any]], None] | None = None,
        anonymizer: Anonymizer | None = None) -> Summary:
    """Anonymize every input of ``options``; returns the totals. ``on_row`` sees each row."""
    from understudy.io.files import check_destination, discover

    check_destination(options.sources, options.destination)
    destination = Path(options.destination)
    items = discover(options.sources, options.destination)
    first = next(items, None)  # a missing source is a usage error, before DST exists
    done = resume_state(options)
    started = time.perf_counter()
    recorder = RunRecorder(destination, on_row)
    variants = [variant for variant, _ in options.anonymize.variants]

    def record(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            recorder(row)

    def all_items() -> Iterator:
        if first is not None:
            yield first
            yield from items

    try:
        if options.workers == 1:
            worker = anonymizer or Anonymizer(options.anonymize)
            try:
                for item in all_items():
                    record(process_item(worker, item, destination, options,
                                        entries_for(item, variants, done)))
            finally:
                if anonymizer is None:  # ours to close; a caller's anonymizer stays open
                    worker.close()
        else:
            _run_pool(all_items(), destination, options, done, variants, record)
        recorder.finish()
    finally:
        recorder.close()
    summary = recorder.summary
    summary.seconds = time.perf_counter() - started
    carry_run_annotations(options, destination)
    return summary


def _run_pool(items, destination, options, done, variants, record) -> None:
    """``workers`` processes, each with its own models; at most 2 × workers items in flight."""
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(options.workers, mp_context=context,
                                     initializer=_init_worker,
                                     initargs=(options.anonymize,)) as pool:
        pending: set[futures.Future] = set()
        for item in items:
            pending.add(pool.submit(_work, item, destination, options,
                                    entries_for(item, variants, done)))
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
