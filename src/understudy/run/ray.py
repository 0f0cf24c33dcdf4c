"""``understudy anonymize ... --engine ray [--address ADDR]``: the same run over Ray Data.

The shape of a run, and why:

* Inputs are a Ray dataset read by one streaming task that walks the sources with the same
  ``discover`` as the local runner (same order, same collision and symlink-loop errors) and
  emits blocks of about one batch of ``InputItem`` rows. Ray's streaming executor pauses it
  when the actors fall behind, so neither the driver nor the object store ever holds the
  list of a million files.
* ``map_batches`` hands batches to a pool of actors; each actor builds one ``Anonymizer``
  (models loaded once) and runs the local runner's ``process_item`` on every input, so
  outputs, per-frame seeds and audit rows are byte for byte those of the local runner. One
  actor per GPU when the cluster has GPUs (``num_gpus=1``), else one per CPU.
* Actors write the outputs (atomically) on the shared filesystem and return audit rows;
  the driver appends them to ``DST/audit.jsonl``, so a row exists only for a finished output.
* Resume uses the audit exactly like the local runner: the reading task loads the resume
  entries (``output -> sha256 + settings``) of rows already ``ok`` and attaches to each item
  the entries of its own outputs; the actor re-hashes the source and skips what is done.
* The driver records rows through the local runner's ``RunRecorder``: DST is created with
  the first row, stale temp files are swept on every run.
* A killed actor is restarted by Ray and its batch retried (outputs are rewritten
  atomically, rows returned once, and its stray temp file is swept at the end); a killed
  driver loses at most the rows of outputs in flight, which ``--resume`` redoes.

SRC and DST must be visible under the same paths on every node (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from understudy.io.audit import AUDIT_NAME, Summary, resume_entries
from understudy.errors import MissingDependency, UnderstudyError, UsageError
from understudy.run.local import RunOptions, RunRecorder

_COLUMNS = ("path", "relative", "kind", "error", "skip", "done")
# Rough Arrow size of one input row (two paths, kind, resume entry): sizes Ray's blocks.
_ROW_BYTES = 256


@dataclass
class RayOptions:
    address: str | None = None  # "auto", "ray://host:10001", "host:6379"; None: start one here
    actors: int = 0  # 0: one per GPU of the cluster, else one per CPU
    batch_size: int = 8  # inputs per actor call
    num_cpus: int | None = None  # CPUs of a local instance (default: all of this machine)

    def __post_init__(self) -> None:
        if self.actors < 0:
            raise UsageError(f"--actors must be >= 0 (0 = one per GPU or CPU), got {self.actors}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise UsageError(f"num_cpus must be >= 1, got {self.num_cpus}")
        if self.address is not None and not self.address.strip():
            raise UsageError("--address is empty; give host:port, ray://host:port or auto")


def run(options: RunOptions, on_row: Callable[[dict[str, Any]], None] | None = None,
        ray_options: RayOptions | None = None) -> Summary:
    """Anonymize every input of ``options`` on Ray; same outputs, audit and Summary as
    ``understudy.run.local.run``. Uses the Ray instance this process is already connected to,
    else connects to ``ray_options.address``, else starts a local one (and stops it after)."""
    from understudy.io.files import check_destination, discover, remove_stale_temps
    from understudy.run.local import carry_run_annotations

    ray_options = ray_options or RayOptions()
    ray = _import_ray()
    check_destination(options.sources, options.destination)
    next(iter(discover(options.sources)), None)  # a missing source is a usage error, now
    destination = Path(options.destination).resolve()
    started = time.perf_counter()
    with _quiet_ray_logs():
        started_here = _connect(ray, ray_options)  # before DST exists: a bad address leaves nothing
        try:
            recorder = RunRecorder(destination, on_row)
            restarted = False
            try:
                dataset = build_dataset(ray, options, ray_options, destination)
                for record in dataset.iter_rows():
                    restarted = restarted or record["restarted"]
                    recorder(json.loads(record["row"]))
                recorder.finish()
            finally:
                recorder.close()
            if restarted:
                # An actor was killed and restarted by Ray: it may have died mid-write and
                # left a temp file that no retry will reuse (temp names are random).
                remove_stale_temps(destination)
        except Exception as exc:
            cause = _understudy_cause(exc)
            if cause is not None:
                raise cause from None
            raise
        finally:
            if started_here:
                ray.shutdown()
    summary: Summary = recorder.summary
    summary.seconds = time.perf_counter() - started
    carry_run_annotations(options, destination)
    return summary


def portable(options: RunOptions) -> RunOptions:
    """``options`` with every local path made absolute: on a cluster, actors and the reading
    task run in other processes and on other machines, whose working folder is not ours."""
    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value) and os.path.exists(value):
            return os.path.abspath(value)
        return value

    anonymize = options.anonymize
    perception = dataclasses.replace(
        anonymize.perception, annotations=absolute(anonymize.perception.annotations),
        image_root=absolute(anonymize.perception.image_root),
        cache_dir=os.path.abspath(anonymize.perception.cache_dir)
        if anonymize.perception.cache_dir else None)
    # Method options that name an existing file or folder (weights, attribute files) are
    # paths; hub ids and other strings are left alone.
    method_options = {key: absolute(value) for key, value in anonymize.method_options.items()}
    anonymize = dataclasses.replace(anonymize, perception=perception,
                                    method_options=method_options)
    return dataclasses.replace(options, anonymize=anonymize,
                               sources=[os.path.abspath(s) for s in options.sources])


def display_source(path: str, sources: list[str], given: list[str]) -> str:
    """``path`` as the local runner would write it: under the user's spelling of its source."""
    for absolute, spelled in zip(sources, given):
        if path == absolute or path.startswith(absolute.rstrip(os.sep) + os.sep):
            return str(Path(spelled) / os.path.relpath(path, absolute))
    return path


def build_dataset(ray, options: RunOptions, ray_options: RayOptions, destination: Path):
    """The lazy dataset: discovered inputs → actors → one JSON audit row per output."""
    given_sources = list(options.sources)  # the audit shows sources as the user typed them
    options = portable(options)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    actors = ray_options.actors or (gpus if gpus else cpus)
    per_actor = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    variants = [variant for variant, _ in options.anonymize.variants]
    audit = destination / AUDIT_NAME if options.resume else None
    # Blocks of one batch: Ray hands each actor task whole blocks, so larger blocks would
    # leave actors idle. Ray's ~1 ms per block is noise next to an image.
    source = _make_datasource_class()([os.fspath(s) for s in options.sources], variants, audit,
                                      ray_options.batch_size, str(destination))
    ctx = ray.data.DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.target_max_block_size
    # A dataset copies the current context when it is created; these settings are ours only.
    ctx.enable_progress_bars = False  # the CLI draws its own bar from the audit rows
    # Ray Data merges what a read task yields into blocks of target_max_block_size
    # (128 MiB by default) and emits a block only when it is full or the task ends. Our rows
    # are a few hundred bytes, so the whole listing would reach the actors as ONE block when
    # discovery ends: one actor busy, no audit row before the end (measured). Blocks of
    # about one batch keep every actor fed and rows flowing back as outputs finish.
    ctx.target_max_block_size = _ROW_BYTES * ray_options.batch_size
    try:
        # The reader needs almost no CPU: reserving one would leave it or an actor
        # unplaced on a small machine.
        items = ray.data.read_datasource(source, override_num_blocks=1, num_cpus=0)
        return items.map_batches(
            AnonymizeActor,
            fn_constructor_args=(options, str(destination), given_sources),
            batch_size=ray_options.batch_size, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors), **per_actor)
    finally:
        ctx.enable_progress_bars, ctx.target_max_block_size = saved


def _make_datasource_class():
    """Defined lazily so that importing this module does not import Ray (CLI start-up)."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class _InputsDatasource(Datasource):
        """Discovered inputs as a dataset, read by a single streaming task (see module doc)."""

        def __init__(self, sources: list[str], variants: list[str], audit: Path | None,
                     block_rows: int, destination: str | None = None):
            super().__init__()
            self.destination = destination
            self.sources = sources
            self.variants = variants
            self.audit = audit
            self.block_rows = block_rows

        def estimate_inmemory_data_size(self) -> int | None:
            return None  # unknown until walked; walking twice is what we avoid

        def get_name(self) -> str:
            return "UnderstudyInputs"

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context=None) -> list:
            meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None,
                                 exec_stats=None)
            read = functools.partial(read_items, self.sources, self.variants, self.audit,
                                     self.block_rows, self.destination)
            return [ReadTask(read, meta, per_task_row_limit=per_task_row_limit)]

    return _InputsDatasource


def read_items(sources: list[str], variants: list[str], audit: Path | None,
               block_rows: int, destination: str | None = None) -> Iterator[Any]:
    """Blocks (pyarrow tables) of discovered inputs, with the resume entries of each one;
    links into ``destination`` are not followed (as in the local runner)."""
    import pyarrow as pa

    from understudy.io.files import discover
    from understudy.run.local import entries_for

    done = resume_entries(audit) if audit is not None else {}
    columns: dict[str, list] = {name: [] for name in _COLUMNS}

    def block():
        table = pa.table({
            "path": pa.array(columns["path"], pa.binary()),
            "relative": pa.array(columns["relative"], pa.binary()),
            "kind": pa.array(columns["kind"], pa.string()),
            "error": pa.array(columns["error"], pa.string()),
            "skip": pa.array(columns["skip"], pa.string()),
            "done": pa.array(columns["done"], pa.string()),
        })
        for values in columns.values():
            values.clear()
        return table

    for item in discover(sources, destination):
        mine = entries_for(item, variants, done)
        # Paths as bytes: file names that are not valid UTF-8 must survive the round trip.
        columns["path"].append(os.fsencode(item.path))
        columns["relative"].append(os.fsencode(str(item.relative)))
        columns["kind"].append(item.kind)
        columns["error"].append(item.error)
        columns["skip"].append(item.skip)
        columns["done"].append(json.dumps(mine) if mine else None)
        if len(columns["path"]) >= block_rows:
            yield block()
    if columns["path"]:
        yield block()


class AnonymizeActor:
    """One per GPU (or CPU): loads the models once, then anonymizes batches of inputs."""

    def __init__(self, options: RunOptions, destination: str, display_sources: list[str]):
        from understudy.run.anonymizer import Anonymizer

        self.options = options
        self.destination = Path(destination)
        self.display_sources = display_sources
        self.anonymizer = Anonymizer(options.anonymize)
        # A restarted actor (its predecessor died) tells the driver to sweep temp files.
        self.restarted = _was_restarted()

    def __call__(self, batch):
        import pyarrow as pa

        from understudy.io.files import InputItem
        from understudy.run.local import process_item

        rows: list[str] = []
        for record in batch.to_pylist():
            item = InputItem(Path(os.fsdecode(record["path"])),
                             PurePosixPath(os.fsdecode(record["relative"])),
                             record["kind"], record["error"], record["skip"])
            done = json.loads(record["done"] or "{}")
            for row in process_item(self.anonymizer, item, self.destination, self.options, done):
                row["source"] = display_source(row["source"], self.options.sources,
                                               self.display_sources)
                # ASCII in transit: a file name that is not UTF-8 (surrogate escapes) must
                # not break Arrow; the driver's audit writes the row exactly as the local one.
                rows.append(json.dumps(row))
        return pa.table({"row": pa.array(rows, pa.string()),
                         "restarted": pa.array([self.restarted] * len(rows), pa.bool_())})


def _was_restarted() -> bool:
    import ray

    try:
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except Exception:  # outside an actor (tests call the class directly)
        return False


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("Ray Data (needed by --engine ray)",
                                "pip install 'understudy[scale]'") from exc
    return ray


def _connect(ray, options: RayOptions) -> bool:
    """Join the running Ray instance or start one; True when this call started it."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if options.address is not None:
        problem = _unreachable(options.address)
        if problem:  # Ray itself retries for minutes before giving up
            raise UsageError(f"cannot reach the Ray cluster at --address {options.address!r}: "
                             f"{problem}; is `ray start --head` running there?")
        try:
            ray.init(address=options.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"cannot connect to the Ray cluster at --address "
                             f"{options.address!r}: {str(exc).splitlines()[0]}") from None
        return True
    cpus = options.num_cpus or os.cpu_count() or 1
    ray.init(num_cpus=max(cpus, options.actors), include_dashboard=False, **quiet)
    return True


@contextlib.contextmanager
def _quiet_ray_logs() -> Iterator[None]:
    """Ray Data logs its plan, progress-bar notices and concurrency hints at INFO/WARNING;
    the CLI has its own progress and summary, so keep them out of the user's terminal."""
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*concurren.*", category=UserWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why a ``host:port`` or ``ray://host:port`` address cannot be reached, or None (also
    for "auto" and anything else Ray resolves itself)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _understudy_cause(exc: BaseException) -> UnderstudyError | None:
    """The UsageError/MissingDependency raised in an actor, unwrapped from Ray's errors."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, UnderstudyError):
            return current
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    return None
