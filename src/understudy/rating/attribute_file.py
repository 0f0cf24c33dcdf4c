"""The prompted attributes of each anonymized image, read from a CSV or JSON file.

An anonymization run asks for a stand-in "elderly woman, smiling"; the rating study asks
annotators whether the image shows that. The file names the image and its attributes:

* CSV with a header: ``image`` (path relative to the method's folder, or its file name),
  optional ``method`` (else the row applies to every method), and one column per attribute
  (``age``, ``gender``, ``ethnicity``, ``emotion``, ...). An empty cell: not prompted.
* JSON: a list of such records, or ``{"image": {"age": ...}}``, or
  ``{"method": {"image": {...}}}``.

The prompt complexity of an image is the number of attributes it was prompted with.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from understudy.errors import UsageError
from understudy.io.records import read_image_csv

KEY_COLUMNS = ("image", "method")


@dataclass
class AttributeTable:
    """Attributes per (method or None, image key); ``None`` rows apply to every method."""

    rows: dict[tuple[str | None, str], dict[str, str]] = field(default_factory=dict)

    def lookup(self, method: str, name: str) -> dict[str, str]:
        """Attributes for an image named by its relative path; exact path first, then stem."""
        for key in _keys(name):
            for m in (method, None):
                if (m, key) in self.rows:
                    return dict(self.rows[(m, key)])
        return {}

    @property
    def names(self) -> list[str]:
        return sorted({a for values in self.rows.values() for a in values})

    def values(self, attribute: str) -> list[str]:
        return sorted({v[attribute] for v in self.rows.values() if attribute in v})


def _keys(name: str) -> list[str]:
    """Ways a label file may name an image: 'a/b.png', 'a/b', 'b.png', 'b'."""
    p = PurePosixPath(name.replace("\\", "/"))
    out = [str(p), str(p.with_suffix("")), p.name, p.stem]
    return list(dict.fromkeys(out))


def _clean(record: dict, where: str) -> tuple[str | None, str, dict[str, str]]:
    image = str(record.get("image") or "").strip()
    if not image:
        raise UsageError(f"{where}: every attribute record needs an 'image'")
    method = str(record.get("method") or "").strip() or None
    attrs = {str(k).strip(): str(v).strip() for k, v in record.items()
             if k not in KEY_COLUMNS and v is not None and str(v).strip()}
    return method, image, attrs


def load_attributes(path: str | Path, methods: list[str]) -> AttributeTable:
    """Read the attribute file; unknown methods and duplicate images are errors."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--attributes: no file at {path}")
    records: list[dict] = []
    try:
        if path.suffix.lower() == ".csv":
            records = read_image_csv(path, "--attributes")
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = _json_records(data, methods)
        else:
            raise UsageError(f"--attributes {path}: use a .csv or .json file")
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"--attributes {path}: cannot parse ({exc})") from None
    table = AttributeTable()
    for n, record in enumerate(records, 1):
        method, image, attrs = _clean(record, f"--attributes {path} record {n}")
        if method is not None and method not in methods:
            raise UsageError(f"--attributes {path} record {n}: method {method!r} is not one "
                             f"of the --anonymized methods {methods}")
        key = (method, image)
        if key in table.rows:
            raise UsageError(f"--attributes {path}: image {image!r} appears twice"
                             + (f" for method {method!r}" if method else ""))
        table.rows[key] = attrs
    return table


def _json_records(data: object, methods: list[str]) -> list[dict]:
    if isinstance(data, list):
        if not all(isinstance(r, dict) for r in data):
            raise UsageError("--attributes: a JSON list must hold objects with an 'image' key")
        return data
    if not isinstance(data, dict):
        raise UsageError("--attributes: JSON must be a list of records or an object")
    records: list[dict] = []
    for key, value in data.items():
        if not isinstance(value, dict):
            raise UsageError(f"--attributes: JSON entry {key!r} must be an object")
        if key in methods and all(isinstance(v, dict) for v in value.values()):
            records += [{"method": key, "image": img, **attrs} for img, attrs in value.items()]
        else:
            records.append({"image": key, **value})
    return records
