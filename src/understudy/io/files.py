"""Which files a run reads, where each one goes, and how outputs land on disk safely.

Discovery is deterministic (sorted), never hangs on symlink loops, never follows a source
into itself nor a link into the output folder; a problem with one path becomes an
``InputItem`` with ``error`` so that the run records it and goes on, and a file that is not
ours to read (an unknown extension, a link into DST) an ``InputItem`` with ``skip``, which
the audit lists as ``skipped``. Only a source that does not exist at all stops the run
(``UsageError``), because that is a typo on the command line, not a bad file.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from understudy.errors import InputError, UsageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff",
                                              ".bmp"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"})

# Temporary outputs start with this prefix, so a run killed mid-write (SIGKILL) leaves files
# that ``remove_stale_temps`` can recognise and delete on resume, and that never look done.
TEMP_PREFIX = ".understudy-tmp-"


@dataclass(frozen=True)
class InputItem:
    """One input file and where its output goes under DST.

    ``kind`` is "image" or "video" from the extension; an item whose ``error`` is set could
    not even be listed properly (its ``kind`` is then a best guess, "image" by default); an
    item whose ``skip`` is set is not an input, only recorded with that reason.
    """

    path: Path
    relative: PurePosixPath
    kind: str
    error: str | None = None
    skip: str | None = None


def kind_of(path: Path | str) -> str | None:
    """"image", "video" or None, from the (case-insensitive) extension."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def describe_os_error(exc: OSError) -> str:
    """A short, user-facing reason for an OS error (no path: the caller names the file)."""
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return exc.strerror or str(exc)


def _link_problem(path: Path) -> str | None:
    """Why a path that os.stat cannot follow is unusable: a loop or a dangling symlink."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if isinstance(exc, FileNotFoundError) and os.path.islink(path):
            return f"broken symlink (points to {os.readlink(path)})"
        return describe_os_error(exc)
    return None


LINK_INTO_OUTPUT = "symlink into the output folder (its outputs would be read again)"


def _inside_real(path: Path, folder: str | None) -> bool:
    """Whether ``path``'s real location is ``folder`` (already a real path) or inside it."""
    if folder is None:
        return False
    real = os.path.realpath(path)
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(folder: Path, prefix: PurePosixPath, ancestors: frozenset[tuple[int, int]],
          avoid: str | None = None) -> Iterator[InputItem]:
    """Recursive, sorted listing; ``ancestors`` are the (dev, inode) of the folders above,
    so a symlink back to one of them is reported as a loop instead of followed forever;
    ``avoid`` is the real path of the output folder, never entered through a link."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield InputItem(folder, prefix, "image", f"cannot list folder: {describe_os_error(exc)}")
        return
    for entry in entries:
        path = Path(entry.path)
        relative = prefix / entry.name
        if entry.is_symlink() and _inside_real(path, avoid):
            yield InputItem(path, relative, kind_of(path) or "image", skip=LINK_INTO_OUTPUT)
            continue
        try:
            st = os.stat(path)
        except OSError as exc:
            # Only report what would have been an input: a loop or dangling link named like
            # an image/video. Anything else with an unknown extension is not ours to judge.
            kind = kind_of(path)
            if kind is not None or (exc.errno == errno.ELOOP and not path.suffix):
                reason = _link_problem(path) or describe_os_error(exc)
                yield InputItem(path, relative, kind or "image", reason)
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                yield InputItem(path, relative, "image",
                                "symlink loop (links back to a folder that contains it)")
                continue
            yield from _walk(path, relative, ancestors | {key}, avoid)
            continue
        kind = kind_of(path)
        if kind is None:  # not an input, but never silently: the audit lists it
            yield InputItem(path, relative, "image", skip=f"not an image or video we read "
                                                         f"({path.suffix or 'no extension'})")
            continue
        if not stat.S_ISREG(st.st_mode):
            yield InputItem(path, relative, kind, "not a regular file")
            continue
        yield InputItem(path, relative, kind)


def _source_items(source: str, several: bool, avoid: str | None) -> Iterator[InputItem]:
    path = Path(source)
    if not os.path.lexists(path):
        raise UsageError(f"input {source!r} does not exist")
    try:
        st = os.stat(path)
    except OSError:
        problem = _link_problem(path) or "cannot be read"
        yield InputItem(path, PurePosixPath(path.name), kind_of(path) or "image", problem)
        return
    if stat.S_ISDIR(st.st_mode):
        # "." or "dir/" have no usable .name; the resolved folder's name is what users expect.
        prefix = PurePosixPath(path.resolve().name) if several else PurePosixPath()
        yield from _walk(path, prefix, frozenset({(st.st_dev, st.st_ino)}), avoid)
        return
    relative = PurePosixPath(path.name)
    kind = kind_of(path)
    if kind is None:
        allowed = " ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        yield InputItem(path, relative, "image",
                        f"unknown file type {path.suffix or '(no extension)'!r}; "
                        f"allowed: {allowed}")
    elif not stat.S_ISREG(st.st_mode):
        yield InputItem(path, relative, kind, "not a regular file")
    else:
        yield InputItem(path, relative, kind)


def discover(sources: list[str], destination: str | None = None) -> Iterator[InputItem]:
    """Every input of a run, in a deterministic order, with its path under DST.

    One folder SRC maps its contents directly under DST; with several sources each folder
    goes to ``DST/<folder name>/`` and each file to ``DST/<file name>``. Two inputs that
    would land on the same output are not silently merged: the later one gets an error.
    Every source is checked to exist before anything is yielded. Links into
    ``destination`` are not followed (each run would add a level of outputs of outputs).
    """
    if not sources:
        raise UsageError("no inputs given; pass image files, videos or folders")
    for source in sources:
        if not os.path.lexists(source):
            raise UsageError(f"input {source!r} does not exist")
    several = len(sources) > 1
    avoid = os.path.realpath(destination) if destination is not None else None
    claimed: dict[PurePosixPath, Path] = {}
    seen_files: set[tuple[int, int, PurePosixPath]] = set()
    # Two outputs can only collide between sources with the same top-level output name; only
    # those are tracked, so one folder of a million files costs no per-file memory (~800 B
    # per file otherwise).
    tops = Counter(_top_name(source, several) for source in sources)
    for source in sources:
        track = tops[_top_name(source, several)] > 1
        for item in _source_items(source, several, avoid):
            if not track or item.skip:
                yield item
                continue
            key = item.relative
            previous = claimed.get(key)
            if previous is None:
                claimed[key] = item.path
                if item.error is None:
                    st = os.stat(item.path)
                    seen_files.add((st.st_dev, st.st_ino, key))
                yield item
                continue
            if item.error is None:
                st = os.stat(item.path)
                if (st.st_dev, st.st_ino, key) in seen_files:
                    continue  # the same file given twice: one output, not an error
            yield InputItem(item.path, key, item.kind,
                            f"output {key} would overwrite the output of {previous}")


def _top_name(source: str, several: bool) -> str | None:
    """The first component of a source's outputs under DST ("" for a lone folder); None when
    it cannot be told, which counts as a possible collision."""
    path = Path(source)
    try:
        if os.path.isdir(path):
            return path.resolve().name if several else ""
    except OSError:
        return None
    return path.name


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_destination(sources: list[str], dst: str) -> None:
    """Refuse a DST that could overwrite or feed back into the inputs.

    DST may not be a source file, nor equal to or inside a source folder (the outputs would
    become inputs of the next run), nor contain a source (an output could replace it).
    Paths are compared after resolving symlinks, so a link to SRC is caught too.
    """
    out = Path(dst).resolve()
    for source in sources:
        src = Path(source).resolve()
        if src.is_dir():
            if _inside(out, src):
                raise UsageError(f"output folder {dst!r} is inside input folder {source!r}; "
                                 f"choose an output outside the inputs")
        elif out == src:
            raise UsageError(f"output {dst!r} is the input file {source!r}")
        if out != src and _inside(src, out):
            raise UsageError(f"input {source!r} lies inside output folder {dst!r}; outputs "
                             f"could overwrite it; choose an output outside the inputs")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {dst!r} exists and is not a folder; -o takes a folder")


def temp_path_for(path: Path) -> Path:
    """A fresh temp name beside ``path`` that keeps its extension (writers infer the format
    from it) and starts with ``TEMP_PREFIX``."""
    token = secrets.token_hex(4)
    name = f"{TEMP_PREFIX}{token}-{path.name}"
    if len(os.fsencode(name)) > 250:  # NAME_MAX is 255 bytes on common filesystems
        name = f"{TEMP_PREFIX}{token}{path.suffix[:16]}"
    return path.with_name(name)


def safe_output(destination: Path, relative: PurePosixPath, sources: list[str]) -> Path:
    """``destination / relative``, with its folders made, once sure that writing it cannot
    touch an input. Only DST itself may be a link (``check_destination`` resolved it): a
    link inside DST could lead the write into a source folder, so no folder on the way and
    not the output itself may be one, and the real folder must lie inside no source.
    ``InputError`` (one input fails, the run goes on) otherwise."""
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)  # the first output of a run may come first
    for part in relative.parent.parts:
        folder = folder / part
        if os.path.islink(folder):
            raise InputError(f"output folder {folder} is a symlink; outputs are never "
                             f"written through a link (it could lead into the inputs)")
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create output folder {folder}: "
                             f"{describe_os_error(exc)}") from None
    target = folder / relative.name
    if os.path.islink(target):
        raise InputError(f"output {target} is a symlink; outputs are never written through "
                         f"a link (it could lead into the inputs)")
    real = os.path.join(os.path.realpath(folder), relative.name)
    for source in sources:
        if _inside_real(Path(real), os.path.realpath(source)):
            raise InputError(f"output {target} would land on {real}, inside input {source}; "
                             f"refusing to write (originals are never written)")
    return target


def _fsync(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some filesystems/platforms cannot open folders; the data is synced
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file so that readers see either the old one or the complete new one.

    ``write(tmp)`` writes the content to a temp file in the same folder (same filesystem, so
    ``os.replace`` is atomic); it is fsynced, renamed over ``path`` and the folder fsynced.
    The temp file is removed if anything fails, including KeyboardInterrupt.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    # Create it ourselves (O_EXCL, mode 0o666 minus umask) so the result gets normal
    # permissions, unlike mkstemp's 0o600.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync(path.parent, directory=True)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files that a killed run left under ``folder``; returns what was removed."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for root, _dirs, names in os.walk(folder):
        for name in names:
            if name.startswith(TEMP_PREFIX):
                p = Path(root) / name
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:
                    pass
    return removed
