"""Keep third-party native log lines off the terminal on a normal run.

MediaPipe's TF Lite runtime and its absl/glog logging write INFO and WARNING lines
("Created TensorFlow Lite XNNPACK delegate", "inference_feedback_manager.cc ...") straight
to file descriptor 2 from C++, past Python's ``logging`` and ``sys.stderr``. A new user reads
them as failures. So a command runs with descriptor 2 pointed at the null device while
Python's own ``sys.stderr`` (our errors, progress and summary) keeps the real terminal, and
the libraries' log levels are raised before they are imported. ``--verbose`` leaves both
alone. Worker processes forked during the run inherit the silenced descriptor.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

# Read by absl/glog and TensorFlow Lite when they first load: warnings and above only.
QUIET_ENVIRONMENT = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}


@contextlib.contextmanager
def native_logs_silenced() -> Iterator[None]:
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): nothing to do
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    # Only a sys.stderr that writes to descriptor 2 needs a new home; one that does not (a
    # test's capture, a notebook) keeps working as it is.
    moved = _writes_to_descriptor_2(python_stderr)
    if moved:
        sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1,
                               encoding=python_stderr.encoding, errors="backslashreplace")
    os.dup2(null, 2)
    try:
        yield
    finally:
        if moved:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)
        os.close(null)


def _writes_to_descriptor_2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
