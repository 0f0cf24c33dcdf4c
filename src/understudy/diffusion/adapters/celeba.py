"""The 40 CelebA facial attributes, and the three places a person's attribute vector comes from.

A vector holds one value per attribute in ``[-1, 1]``: +1 present, -1 absent, 0 unknown
(CelebA's own files use +1/-1). Unknown stays 0 in the spatial encoding, so the adapter
learns to fill in what nobody asked for.

Sources, merged in this order (later wins where it knows a value):

1. gender, age and emotion measured on the original face by the shipped models
   (``from_measured``: ``Male``, ``Young``, ``Smiling``; the other 37 stay unknown);
2. an attribute model run on the original face (``AttributeModel``; pluggable), or the
   dataset's labels (``read_attribute_file``: CelebA's ``list_attr_celeba.txt`` format);
3. the user's ``--attributes`` request (``from_request``: gender, age, emotion and build
   map onto ``Male``, ``Young``, ``Smiling``, ``Chubby``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from understudy.errors import UsageError

# The order of CelebA's list_attr_celeba.txt header: keep it, files are read by position.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes",
    "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
NUM_ATTRIBUTES = len(CELEBA_ATTRIBUTES)
INDEX: dict[str, int] = {name.lower(): i for i, name in enumerate(CELEBA_ATTRIBUTES)}


def unknown() -> np.ndarray:
    """The vector of a person we know nothing about: all zeros."""
    return np.zeros(NUM_ATTRIBUTES, np.float32)


def vector(values: Mapping[str, float | bool | int]) -> np.ndarray:
    """A vector from ``{"Male": 1, "Eyeglasses": -1}`` (names case-insensitive)."""
    out = unknown()
    for name, value in values.items():
        key = name.strip().lower()
        if key not in INDEX:
            raise UsageError(f"CelebA attribute {name!r} is not known; allowed: "
                             f"{', '.join(CELEBA_ATTRIBUTES)}")
        v = float(value) if not isinstance(value, bool) else (1.0 if value else -1.0)
        if not -1.0 <= v <= 1.0:
            raise UsageError(f"CelebA attribute {name}={value!r} must lie in [-1, 1] "
                             f"(+1 present, -1 absent, 0 unknown)")
        out[INDEX[key]] = v
    return out


def merge(base: np.ndarray, override: np.ndarray) -> np.ndarray:
    """``override``'s known (non-zero) values on top of ``base``."""
    return np.where(override != 0, override, base).astype(np.float32)


def from_request(values: Mapping[str, str]) -> np.ndarray:
    """The CelebA values implied by a user's request (``understudy.attributes`` vocabulary).

    Only keys the user asked for are set: a request for ``gender=female`` says nothing about
    glasses. Ethnicity and height have no CelebA attribute and are left to the caption/prompt.
    """
    out: dict[str, float] = {}
    if "gender" in values:
        out["Male"] = 1.0 if values["gender"] == "male" else -1.0
    if "age" in values:
        # CelebA's "Young" was labelled by eye; under 40 is the usual reading.
        out["Young"] = 1.0 if values["age"] in ("20s", "30s") else -1.0
        if values["age"] in ("60s", "70s"):
            out["Gray_Hair"] = 1.0
    if "emotion" in values:
        out["Smiling"] = 1.0 if values["emotion"] == "happy" else -1.0
        if values["emotion"] == "surprise":
            out["Mouth_Slightly_Open"] = 1.0
    if "build" in values:
        out["Chubby"] = 1.0 if values["build"] == "heavy" else -1.0
        if values["build"] == "heavy":
            out["Double_Chin"] = 1.0
    return vector(out)


# The CelebA keys the measured gender, age and emotion say something about.
MEASURED_KEYS = ("Male", "Young", "Smiling")


def from_measured(values: Mapping[str, str]) -> np.ndarray:
    """The CelebA values a measurement of the original implies (``understudy.attributes``
    words, as ``perception.attributes_measured.in_vocabulary`` gives them): only
    ``MEASURED_KEYS``. Unlike a request, a measured age of 60 does not set ``Gray_Hair`` and a
    surprised face does not set ``Mouth_Slightly_Open``: those are not what was measured."""
    full = from_request({k: v for k, v in values.items() if k in ("gender", "age", "emotion")})
    keep = [INDEX[k.lower()] for k in MEASURED_KEYS]
    out = unknown()
    out[keep] = full[keep]
    return out


def describe(vec: np.ndarray, threshold: float = 0.5) -> dict[str, int]:
    """The known values of a vector as ``{name: +1 | -1}``, for the audit record."""
    return {CELEBA_ATTRIBUTES[i]: int(np.sign(v)) for i, v in enumerate(vec) if abs(v) >= threshold}


def caption(vec: np.ndarray) -> str:
    """A short caption from a vector, for training data that comes without captions."""
    v = {CELEBA_ATTRIBUTES[i].lower(): float(x) for i, x in enumerate(vec)}
    noun = "man" if v["male"] > 0 else "woman" if v["male"] < 0 else "person"
    age = "young " if v["young"] > 0 else "older " if v["young"] < 0 else ""
    extras = [name.replace("_", " ").lower() for name in CELEBA_ATTRIBUTES
              if v[name.lower()] > 0 and name not in ("Male", "Young", "Attractive")]
    text = f"a photo of a {age}{noun}"
    return text + (", " + ", ".join(extras) if extras else "")


class AttributeModel(Protocol):
    """A pluggable attribute classifier: face crops in, one vector per crop out.

    ``crops`` are ``(h, w, 3) uint8`` RGB; the result is ``(N, 40) float32`` in ``[-1, 1]``
    in ``CELEBA_ATTRIBUTES`` order (0 where the model has no opinion).
    """

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


def read_attribute_file(path: str | Path) -> dict[str, np.ndarray]:
    """CelebA's ``list_attr_celeba.txt``: a count line, a header of attribute names, then
    ``name v1 ... v40`` rows of +1/-1. Returns ``{file name: vector}``.

    The header decides the column order, so a file with a subset or another order of the 40
    names also works; names outside CelebA's list are an error.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"attribute file {str(path)!r} does not exist")
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if lines and len(lines[0]) == 1 and lines[0][0].isdigit():
        lines = lines[1:]
    if not lines:
        raise UsageError(f"attribute file {str(path)!r} is empty")
    header = lines[0]
    columns = []
    for name in header:
        if name.lower() not in INDEX:
            raise UsageError(f"attribute file {str(path)!r}: column {name!r} is not a CelebA "
                             f"attribute; allowed: {', '.join(CELEBA_ATTRIBUTES)}")
        columns.append(INDEX[name.lower()])
    out: dict[str, np.ndarray] = {}
    for row_number, row in enumerate(lines[1:], start=3):
        if len(row) != len(header) + 1:
            raise UsageError(f"attribute file {str(path)!r} line {row_number}: expected a name "
                             f"and {len(header)} values, got {len(row)} fields")
        vec = unknown()
        try:
            vec[columns] = np.clip(np.asarray(row[1:], np.float32), -1, 1)
        except ValueError as exc:
            raise UsageError(f"attribute file {str(path)!r} line {row_number}: values must be "
                             f"numbers (+1/-1), got {' '.join(row[1:4])} ...") from exc
        out[row[0]] = vec
    return out


def read_landmark_file(path: str | Path) -> dict[str, np.ndarray]:
    """CelebA's ``list_landmarks_(align_)celeba.txt``: ``name lx ly rx ry nx ny mlx mly mrx mry``
    -> ``{file name: (5, 2) float32}`` in the order eyes, nose, mouth corners (image left
    first), the same order as CenterFace's landmarks."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"landmark file {str(path)!r} does not exist")
    out: dict[str, np.ndarray] = {}
    for row_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = line.split()
        if len(row) != 11 or not row[1].lstrip("-").replace(".", "", 1).isdigit():
            continue  # the count and header lines
        out[row[0]] = np.asarray(row[1:], np.float32).reshape(5, 2)
    if not out:
        raise UsageError(f"landmark file {str(path)!r} holds no 'name x1 y1 ... x5 y5' rows")
    return out
