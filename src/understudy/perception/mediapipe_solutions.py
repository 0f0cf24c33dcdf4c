"""MediaPipe's solutions, imported without the plotting library they never use here.

``import mediapipe`` imports its drawing helpers, which import ``matplotlib.pyplot`` at once:
0.3-0.4 s of every command's start-up on 2 cores (issue 18: the start-up is a sixth of a
60-frame video's mask-out), for drawing landmarks, which understudy never does. While
MediaPipe is imported, ``matplotlib.pyplot`` is a stand-in module that imports the real one
the first time anything reads from it (a report's plots), so nothing else changes.
"""

from __future__ import annotations

import importlib
import sys
import types

PYPLOT = "matplotlib.pyplot"


class _DeferredPyplot(types.ModuleType):
    """``matplotlib.pyplot`` until first use; then the real module, which takes its place."""

    def __getattr__(self, name: str):
        if sys.modules.get(PYPLOT) is self:
            del sys.modules[PYPLOT]
        return getattr(importlib.import_module(PYPLOT), name)


def solution(name: str) -> types.ModuleType:
    """``mediapipe.python.solutions.<name>`` (``pose``, ``selfie_segmentation``).

    Raises ImportError when MediaPipe is not installed, as the import itself would."""
    if "mediapipe" not in sys.modules and PYPLOT not in sys.modules:
        sys.modules[PYPLOT] = _DeferredPyplot(PYPLOT)
    return importlib.import_module(f"mediapipe.python.solutions.{name}")
