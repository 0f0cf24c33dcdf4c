"""What ``understudy evaluate`` measures and with which thresholds, as one dataclass.

The same dataclass feeds the CLI and the Python API; every field is validated here, so a
wrong value fails before any model loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from understudy.errors import UsageError

RECOGNIZERS: tuple[str, ...] = ("dlib", "sface")
# "people": person recall, coverage and pixels left visible (needs the audit for recall);
# "appearance": body re-identification by the ImageNet embedder and the clothing-colour attacker.
MEASURES: tuple[str, ...] = ("faces", "appearance", "people", "posture", "attributes", "quality")


@dataclass
class EvaluationOptions:
    recognizers: tuple[str, ...] = RECOGNIZERS
    measures: tuple[str, ...] = MEASURES
    # Standard verification thresholds of the two recognizers (dlib: L2 distance of the
    # 128-D descriptor, < 0.6 is "same person"; SFace: cosine similarity >= 0.363).
    dlib_threshold: float = 0.6
    sface_threshold: float = 0.363
    # Regex whose first group is the identity in a file's relative path (e.g. Market-1501's
    # "^(\d+)_"): enables the gallery protocol that excludes the query's own image.
    identity_pattern: str | None = None
    # Hand-labelled people (labels.json as tests/people_set.py writes it): recall, coverage
    # and body re-ID then use these people and identities instead of a detector's.
    labels: str | None = None
    body_reid_model: str | None = None  # ONNX person re-ID model (N, 3, 256, 128) → features
    inception: str | None = None  # TorchScript Inception feature extractor, enables FID/KID
    max_side: int = 1600  # images are analysed at most this large (long side, pixels)
    changed_threshold: int = 8  # 0-255: a pixel "changed" when a channel moved more than this
    examples: int = 12  # rows in the report's grid of worst cases
    cache_dir: str | None = None  # default: REPORT_DIR/cache
    use_cache: bool = True
    reference_row: bool = True  # add the originals themselves as the "original" row
    progress: bool = True
    extra_notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.recognizers = _names(self.recognizers, RECOGNIZERS, "recognizers")
        self.measures = _names(self.measures, MEASURES, "measures")
        if not 0 < self.dlib_threshold < 2:
            raise UsageError(f"dlib_threshold is an L2 distance in (0, 2), got {self.dlib_threshold}")
        if not -1 < self.sface_threshold < 1:
            raise UsageError(f"sface_threshold is a cosine in (-1, 1), got {self.sface_threshold}")
        if self.identity_pattern is not None:
            try:
                compiled = re.compile(self.identity_pattern)
            except re.error as exc:
                raise UsageError(f"identity_pattern {self.identity_pattern!r} is not a valid "
                                 f"regular expression: {exc}") from None
            if compiled.groups < 1:
                raise UsageError(f"identity_pattern {self.identity_pattern!r} needs one group "
                                 "that captures the identity, e.g. '^(\\d+)_'")
        for name in ("labels", "body_reid_model", "inception"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise UsageError(f"{name} {value!r} is not a file")
        if self.max_side < 128:
            raise UsageError(f"max_side must be >= 128 pixels, got {self.max_side}")
        if not 0 <= self.changed_threshold <= 255:
            raise UsageError(f"changed_threshold must be in 0..255, got {self.changed_threshold}")
        if self.examples < 0:
            raise UsageError(f"examples must be >= 0, got {self.examples}")

    def threshold(self, recognizer: str) -> float:
        return self.dlib_threshold if recognizer == "dlib" else self.sface_threshold


def _names(value, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in (value.split(",") if isinstance(value, str) else value))
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise UsageError(f"{what}: {', '.join(map(repr, unknown))} not known; "
                         f"allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))
