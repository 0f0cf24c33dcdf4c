"""Per-image record files that users give (attributes, labels): one reader for their CSV form."""

from __future__ import annotations

import csv
from pathlib import Path

from understudy.errors import UsageError


def read_image_csv(path: Path, flag: str) -> list[dict[str, str]]:
    """Rows of a CSV whose header has an ``image`` column; ``flag`` names the option in errors.

    ``utf-8-sig`` because spreadsheets save a byte-order mark."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "image" not in reader.fieldnames:
            raise UsageError(f"{flag} {path}: the CSV header needs an 'image' column, "
                             f"found {reader.fieldnames}")
        return [dict(row) for row in reader]
