"""Who a stand-in should be: requested attributes, where they come from, and the SD prompt.

Three ways to ask (``--attributes``), all parsed by ``parse_attributes``:

* ``"age=30s,gender=female,ethnicity=east asian,emotion=happy"``: the same for everyone;
  keys left out are sampled from the distributions below;
* ``"random"``: every attribute sampled per person (per track in a video) from ``DISTRIBUTIONS``
  with the run's generator, so a seed reproduces the same people;
* a path to a ``.json`` / ``.yaml`` / ``.yml`` file of per-person attributes::

      {"*": "emotion=neutral",                # everyone (optional)
       "0": "gender=female,age=40s",          # the first person of each image
       "track:3": {"gender": "male"},         # a person tracked through a video
       "street.jpg#1": "age=60s"}             # the second person of one image

  (a top-level list is read as entries for persons 0, 1, 2, ...). The most specific entry
  wins: ``source#index`` over ``track:N`` over ``N`` over ``*``; keys it leaves out are sampled.

Attributes are a small closed vocabulary, so that the avatar's phenotype (``understudy.body``)
and the prompt carry the same person and the evaluation can check them. Stand-ins are adults:
ages below 18 are refused, because generating synthetic minors is not something a dataset
pseudonymizer should do by accident.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from understudy.errors import UsageError

AGES = ("20s", "30s", "40s", "50s", "60s", "70s")
GENDERS = ("female", "male")
ETHNICITIES = ("black", "east asian", "southeast asian", "south asian", "middle eastern",
               "latino", "white")
# The labels of the FER emotion classifier the evaluation uses (fer's mini-Xception).
EMOTIONS = ("neutral", "happy", "sad", "surprise", "angry", "fear", "disgust")
BUILDS = ("slim", "average", "heavy")
HEIGHTS = ("short", "average", "tall")

VOCABULARY: dict[str, tuple[str, ...]] = {
    "age": AGES, "gender": GENDERS, "ethnicity": ETHNICITIES, "emotion": EMOTIONS,
    "build": BUILDS, "height": HEIGHTS,
}

# Face attributes of RefSD's attribute figure. Unlike the keys above they are never drawn at
# random: a stand-in shows them only when asked (the avatar's hair follows hair_color and
# hair_length; stage 3's prompt carries all five), so "random" keeps its documented spread.
FACE_VOCABULARY: dict[str, tuple[str, ...]] = {
    "hair_color": ("black", "brown", "blond", "red", "grey", "white"),
    "hair_length": ("bald", "short", "medium", "long"),
    "beard": ("none", "stubble", "moustache", "beard"),
    "glasses": ("none", "glasses", "sunglasses"),
    "makeup": ("none", "light", "heavy"),
}
ALL_VOCABULARY = {**VOCABULARY, **FACE_VOCABULARY}
# How each face value reads in a prompt and in a rating question ("clean-shaven", not "none").
_FACE_WORDS = {
    "hair_color": {v: f"{v} hair" for v in FACE_VOCABULARY["hair_color"]},
    "hair_length": {"bald": "bald", "short": "short hair", "medium": "medium-length hair",
                    "long": "long hair"},
    "beard": {"none": "clean-shaven", "stubble": "stubble", "moustache": "a moustache",
              "beard": "a beard"},
    "glasses": {"none": "no glasses", "glasses": "glasses", "sunglasses": "sunglasses"},
    "makeup": {"none": "no make-up", "light": "light make-up", "heavy": "heavy make-up"},
}

# Sampling distributions for "random" and for keys a request leaves out. Documented choices,
# not census figures: gender and ethnicity uniform (a pseudonymized dataset should not
# inherit a skew from us), adult ages weighted to working age, emotions mostly neutral or
# happy as in everyday photos, build and height mostly average.
DISTRIBUTIONS: dict[str, dict[str, float]] = {
    "age": {"20s": 0.22, "30s": 0.22, "40s": 0.2, "50s": 0.16, "60s": 0.12, "70s": 0.08},
    "gender": {"female": 0.5, "male": 0.5},
    "ethnicity": {e: 1 / len(ETHNICITIES) for e in ETHNICITIES},
    "emotion": {"neutral": 0.5, "happy": 0.3, "surprise": 0.05, "sad": 0.05, "angry": 0.04,
                "fear": 0.03, "disgust": 0.03},
    "build": {"slim": 0.3, "average": 0.5, "heavy": 0.2},
    "height": {"short": 0.25, "average": 0.5, "tall": 0.25},
}

# Words people type for the same value.
SYNONYMS: dict[str, dict[str, str]] = {
    "gender": {"woman": "female", "f": "female", "man": "male", "m": "male"},
    "hair_color": {"blonde": "blond", "ginger": "red", "auburn": "red", "gray": "grey",
                   "dark": "black", "brunette": "brown"},
    "hair_length": {"shaved": "bald", "none": "bald", "shoulder length": "medium"},
    "beard": {"no": "none", "clean shaven": "none", "mustache": "moustache", "full": "beard"},
    "glasses": {"no": "none", "yes": "glasses", "spectacles": "glasses"},
    "makeup": {"no": "none", "yes": "light", "make up": "light"},
    "ethnicity": {"african": "black", "asian": "east asian", "caucasian": "white",
                  "european": "white", "indian": "south asian", "hispanic": "latino",
                  "latina": "latino", "latinx": "latino", "arab": "middle eastern"},
    "emotion": {"happiness": "happy", "smiling": "happy", "sadness": "sad",
                "surprised": "surprise", "anger": "angry", "fearful": "fear",
                "afraid": "fear", "disgusted": "disgust", "calm": "neutral"},
    "build": {"thin": "slim", "medium": "average", "overweight": "heavy", "large": "heavy"},
    "height": {"medium": "average"},
}

_EMOTION_WORDS = {"neutral": "calm", "happy": "smiling", "sad": "sad", "surprise": "surprised",
                  "angry": "angry", "fear": "frightened", "disgust": "disgusted"}
_AGE_WORDS = {"20s": "in their twenties", "30s": "in their thirties", "40s": "in their forties",
              "50s": "in their fifties", "60s": "in their sixties", "70s": "in their seventies"}
_NOUN = {"female": "woman", "male": "man"}
_BUILD_WORDS = {"slim": "slim", "average": "", "heavy": "heavyset"}
_HEIGHT_WORDS = {"short": "short", "average": "", "tall": "tall"}

NEGATIVE_PROMPT = ("nude, naked, deformed, disfigured, extra limbs, bad anatomy, blurry, "
                   "lowres, cartoon, 3d render, mannequin, child, watermark, text")


@dataclass(frozen=True)
class Attributes:
    """One stand-in's attributes; every field holds a value of ``VOCABULARY``."""

    age: str = "30s"
    gender: str = "female"
    ethnicity: str = "white"
    emotion: str = "neutral"
    build: str = "average"
    height: str = "average"
    # Face attributes: None = not asked for (see FACE_VOCABULARY).
    hair_color: str | None = None
    hair_length: str | None = None
    beard: str | None = None
    glasses: str | None = None
    makeup: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in FACE_VOCABULARY:
                continue
            if value not in ALL_VOCABULARY[f.name]:
                raise UsageError(f"attribute {f.name}={value!r} is not known; "
                                 f"allowed: {', '.join(ALL_VOCABULARY[f.name])}")

    def prompt(self, clothing: str = "", context: str = "") -> str:
        """The Stable Diffusion prompt for this person, e.g. "a photo of a smiling east asian
        woman in their thirties, wearing a blue shirt and grey trousers, ...".

        ``clothing`` comes from the avatar's sampled outfit so that the refinement keeps the
        rendered clothes; ``context`` describes the scene when known.
        """
        pronoun_age = _AGE_WORDS[self.age].replace("their", "her" if self.gender == "female"
                                                   else "his")
        words = [_EMOTION_WORDS[self.emotion], _HEIGHT_WORDS[self.height],
                 _BUILD_WORDS[self.build], self.ethnicity, _NOUN[self.gender], pronoun_age]
        text = "a photo of a " + " ".join(w for w in words if w)
        face = [describe_value(k, getattr(self, k)) for k in FACE_VOCABULARY
                if getattr(self, k) is not None]
        if face:
            text += ", " + ", ".join(face)
        if clothing:
            text += f", wearing {clothing}"
        if context:
            text += f", {context}"
        return text + ", full body, natural light, realistic, detailed skin, sharp focus"

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_mapping(cls, values: Mapping[str, str], rng: np.random.Generator) -> "Attributes":
        """Attributes from requested values; keys left out are drawn from ``DISTRIBUTIONS``.

        Every key is drawn from ``rng`` even when requested, in a fixed order, so that one
        request changing does not reshuffle the other people's draws.
        """
        sampled = sample_values(rng)
        sampled.update({k: normalize_value(k, v) for k, v in values.items()})
        return cls(**sampled)


def describe_value(key: str, value: str) -> str:
    """A value as words: "clean-shaven" for beard=none, "red hair", "a moustache"; other
    keys read as themselves ("happy", "30s")."""
    return _FACE_WORDS.get(key, {}).get(value, value)


def prompted_attributes(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes a stand-in was given, from an audit region's ``attributes``.

    Methods that record only the attributes keep them flat (Mask-SD, CAMOUFLaGE:
    ``{"gender": ...}``); RefSD records more about the stand-in (outfit, fit, seed) and nests
    them one level down (``{"attributes": {"gender": ...}, "outfit": ...}``). Readers of the
    audit (the evaluation, ``understudy audit export``) take both through this one function."""
    record = record or {}
    inner = record.get("attributes")
    return dict(inner) if isinstance(inner, Mapping) else dict(record)


def partial_phrase(values: Mapping[str, str]) -> str:
    """"a smiling woman in her thirties": a person known only in part (e.g. gender, age and
    emotion measured on the original), in the words of ``Attributes.prompt``. Keys left out
    stay unsaid rather than sampled, so nothing is invented about the scene's people;
    "a person" when nothing is known."""
    v = {k: normalize_value(k, x) for k, x in values.items()}
    gender = v.get("gender")
    words = [_EMOTION_WORDS.get(v.get("emotion", ""), ""), _HEIGHT_WORDS.get(v.get("height", ""), ""),
             _BUILD_WORDS.get(v.get("build", ""), ""), v.get("ethnicity", ""),
             _NOUN.get(gender or "", "person")]
    if "age" in v:
        pronoun = {"female": "her", "male": "his"}.get(gender or "", "their")
        words.append(_AGE_WORDS[v["age"]].replace("their", pronoun))
    text = " ".join(w for w in words if w)
    return ("an " if text[0] in "aeiou" else "a ") + text


def sample_values(rng: np.random.Generator) -> dict[str, str]:
    """One draw of every attribute from ``DISTRIBUTIONS`` (in ``VOCABULARY`` order)."""
    out = {}
    for key in VOCABULARY:
        dist = DISTRIBUTIONS[key]
        names = list(dist)
        p = np.asarray([dist[n] for n in names], float)
        out[key] = names[int(rng.choice(len(names), p=p / p.sum()))]
    return out


def normalize_value(key: str, value: Any) -> str:
    """The vocabulary value a user meant: case, synonyms and numeric ages ("35" -> "30s")."""
    key = key.strip().lower()
    if key not in ALL_VOCABULARY:
        raise UsageError(f"attribute {key!r} is not known; "
                         f"allowed: {', '.join(ALL_VOCABULARY)}")
    text = re.sub(r"\s+", " ", str(value).strip().lower().replace("_", " ").replace("-", " "))
    if key == "age":
        match = re.fullmatch(r"(\d{1,3})s?", text)
        if match:
            years = int(match.group(1))
            if years < 18:
                raise UsageError(f"attribute age={value!r} is below 18; stand-ins are adults "
                                 f"(allowed: {', '.join(AGES)} or 18-99)")
            text = f"{min(years // 10, 7) * 10}s"
    text = SYNONYMS.get(key, {}).get(text, text)
    if text not in ALL_VOCABULARY[key]:
        raise UsageError(f"attribute {key}={value!r} is not known; "
                         f"allowed: {', '.join(ALL_VOCABULARY[key])}")
    return text


def parse_pairs(text: str) -> dict[str, str]:
    """``"age=30s,gender=female"`` -> ``{"age": "30s", "gender": "female"}`` (normalized)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise UsageError(f"--attributes part {part.strip()!r} is not key=value; "
                             f"example: age=30s,gender=female,ethnicity=east asian,emotion=happy")
        key = key.strip().lower()
        out[key] = normalize_value(key, value)
    return out


@dataclass(frozen=True)
class AttributeSource:
    """Where each person's attributes come from. ``spec`` records the request for the audit.

    ``entries`` maps a selector ("*", "N", "track:N", "source#N") to requested values.
    """

    spec: str = "random"
    entries: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def is_random(self) -> bool:
        return not self.entries

    def requested(self, index: int, track_id: int | None = None,
                  source: str = "") -> dict[str, str]:
        """The values asked for one person, least to most specific merged (no sampling)."""
        table = {sel: dict(values) for sel, values in self.entries}
        out: dict[str, str] = {}
        selectors = ["*", str(index)]
        if track_id is not None:
            selectors.append(f"track:{track_id}")
        if source:
            selectors += [f"{Path(source).name}#{index}", f"{source}#{index}"]
        for sel in selectors:
            out.update(table.get(sel, {}))
        return out

    def for_person(self, index: int, track_id: int | None, rng: np.random.Generator,
                   source: str = "", overrides: Mapping[str, str] | None = None) -> Attributes:
        """The attributes of person ``index`` of a frame (``track_id`` in a video).

        ``rng`` should be the person's own generator (``Scene.rng_for``), which is keyed by
        track, so a tracked person keeps the same stand-in in every frame. ``overrides`` are
        per-person values carried in the data (``Person.attributes``), applied last.
        """
        values = self.requested(index, track_id, source)
        if overrides:
            values.update({k: normalize_value(k, v) for k, v in overrides.items()})
        return Attributes.from_mapping(values, rng)


def parse_attributes(text: str | None) -> AttributeSource:
    """Parse ``--attributes``: ``None``/``""``/``"random"``, ``key=value,...`` or a file path."""
    if text is None or not str(text).strip() or str(text).strip().lower() == "random":
        return AttributeSource("random")
    text = str(text).strip()
    if "=" not in text:
        path = Path(text).expanduser()
        if path.suffix.lower() in (".json", ".yaml", ".yml") or path.exists():
            return load_attribute_file(path)
        raise UsageError(f"--attributes {text!r} is neither 'random', key=value pairs nor an "
                         f"existing .json/.yaml file; example: age=30s,gender=female")
    return AttributeSource(text, (("*", tuple(sorted(parse_pairs(text).items()))),))


def load_attribute_file(path: Path) -> AttributeSource:
    """Per-person attributes from a JSON or YAML file (format in the module docstring)."""
    if not path.is_file():
        raise UsageError(f"--attributes file {str(path)!r} does not exist")
    raw_text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(raw_text)
        else:
            data = json.loads(raw_text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--attributes file {str(path)!r} cannot be parsed: {first}") from exc
    if isinstance(data, list):
        data = {str(i): item for i, item in enumerate(data)}
    if not isinstance(data, dict):
        raise UsageError(f"--attributes file {str(path)!r} must hold a mapping of selectors "
                         f"('*', '0', 'track:3', 'image.jpg#1') to attributes, or a list")
    entries = []
    for selector, item in data.items():
        selector = str(selector).strip()
        if not re.fullmatch(r"\*|\d+|track:\d+|.+#\d+", selector):
            raise UsageError(f"--attributes file {str(path)!r}: selector {selector!r} is not "
                             f"'*', a person index, 'track:N' or 'image#N'")
        if isinstance(item, str):
            values = parse_pairs(item)
        elif isinstance(item, dict):
            values = {str(k).strip().lower(): normalize_value(str(k), v) for k, v in item.items()}
        else:
            raise UsageError(f"--attributes file {str(path)!r}: entry {selector!r} must be "
                             f"'key=value,...' or a mapping, got {type(item).__name__}")
        entries.append((selector, tuple(sorted(values.items()))))
    return AttributeSource(str(path), tuple(entries))
