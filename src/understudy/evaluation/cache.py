"""An on-disk cache of per-image analyses keyed by content hash (DeepPrivacy2's idea).

A key is the analysis name, its version (bumped when its code or model changes), the
sha256 of the image file and any extra inputs (e.g. the person boxes a pose is read in).
Values are JSON; arrays go in as nested lists. Re-running an evaluation over the same
files therefore recomputes nothing, and changing one image recomputes only that image.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable


class AnalysisCache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def key(self, analysis: str, version: str, digest: str, extra: Any = None) -> str:
        text = json.dumps([analysis, version, digest, extra], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def get_or_compute(self, analysis: str, version: str, digest: str,
                       compute: Callable[[], dict[str, Any]], extra: Any = None) -> dict[str, Any]:
        if self.root is None:
            self.misses += 1
            return compute()
        key = self.key(analysis, version, digest, extra)
        path = self.root / analysis / key[:2] / f"{key}.json"
        if path.is_file():
            try:
                value = json.loads(path.read_text())
                self.hits += 1
                return value
            except (OSError, json.JSONDecodeError):
                pass  # a torn write from an interrupted run: compute again
        self.misses += 1
        value = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)  # atomic, so a killed run never leaves half a value
        return value
