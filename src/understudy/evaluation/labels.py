"""Hand-labelled people for ``understudy evaluate --labels FILE``.

The file is the ``labels.json`` that ``python tests/people_set.py OUT`` writes (any set in
the same shape works)::

    {"photos": [{"file": "images/basketball1.png",
                 "people": [{"box": [x1, y1, x2, y2], "identity": "bb_catcher",
                             "tags": ["edge", "back"]}, ...]}, ...]}

Boxes are in the photo's own pixels. A photo is matched to an original by its path relative
to the original folder, else by its file name. With labels, person recall, coverage and body
re-identification use the labelled people instead of a detector's, and the identities turn
on the gallery protocol of body re-identification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from understudy.errors import UsageError


@dataclass(frozen=True)
class LabelledPerson:
    box: tuple[float, float, float, float]
    identity: str
    tags: frozenset[str] = field(default_factory=frozenset)


def read_labels(path: str | Path, relatives: list[str]) -> dict[str, list[LabelledPerson]]:
    """Labelled people by relative path of the original; photos not in the folder are ignored."""
    try:
        data = json.loads(Path(path).read_text())
        photos = data["photos"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--labels {str(path)!r}: not a labels file ({type(exc).__name__}: {exc}); "
                         "expected {\"photos\": [{\"file\": ..., \"people\": [{\"box\": [x1, y1, "
                         "x2, y2], \"identity\": ...}]}]}") from None
    by_rel = set(relatives)
    by_name: dict[str, list[str]] = {}
    for rel in relatives:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    out: dict[str, list[LabelledPerson]] = {}
    for i, photo in enumerate(photos):
        try:
            file = str(photo["file"]).replace("\\", "/")
            people = [LabelledPerson(tuple(float(v) for v in p["box"]), str(p["identity"]),
                                     frozenset(p.get("tags", ()))) for p in photo["people"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"--labels {str(path)!r}: photo {i} is malformed ({exc}); each needs "
                             "'file' and 'people' with 'box' (4 numbers) and 'identity'") from None
        if any(len(p.box) != 4 or p.box[2] <= p.box[0] or p.box[3] <= p.box[1] for p in people):
            raise UsageError(f"--labels {str(path)!r}: {file} has a box that is not x1 < x2, y1 < y2")
        rel = next((r for r in by_rel if file == r or file.endswith("/" + r)), None)
        if rel is None:
            hits = by_name.get(file.rsplit("/", 1)[-1], [])
            rel = hits[0] if len(hits) == 1 else None
        if rel is not None:
            out[rel] = people
    if not out:
        raise UsageError(f"--labels {str(path)!r}: none of its photos is in the original folder "
                         f"(e.g. {photos[0].get('file') if photos else 'no photos'!r} vs "
                         f"{relatives[0]!r})")
    return out
