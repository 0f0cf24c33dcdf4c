"""RefSD's face attributes (beard, glasses, hair colour and length, make-up): asked for with
--attributes, carried into the stand-in's hair, the stage-3 prompt, the audit and the rating
questions; never drawn at random."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.attributes import Attributes, describe_value, parse_attributes, parse_pairs
from understudy.body.clothing import sample_outfit
from understudy.errors import UsageError


def test_face_attributes_parse_with_synonyms_and_teach_on_errors():
    assert parse_pairs("beard=clean shaven,hair_color=blonde,glasses=yes,makeup=no") == {
        "beard": "none", "hair_color": "blond", "glasses": "glasses", "makeup": "none"}
    with pytest.raises(UsageError, match="allowed: none, stubble, moustache, beard"):
        parse_pairs("beard=goatee")


def test_prompt_and_audit_carry_only_what_was_asked():
    rng = np.random.default_rng(0)
    asked = Attributes.from_mapping({"gender": "male", "beard": "beard", "glasses": "sunglasses",
                                     "hair_color": "red", "hair_length": "long"}, rng)
    prompt = asked.prompt()
    for words in ("a beard", "sunglasses", "red hair", "long hair"):
        assert words in prompt
    assert asked.to_json()["beard"] == "beard" and "makeup" not in asked.to_json()
    plain = Attributes.from_mapping({"gender": "male"}, np.random.default_rng(0))
    assert set(plain.to_json()) == {"age", "gender", "ethnicity", "emotion", "build", "height"}
    # "random" never invents face attributes, and draws the same people as before.
    drawn = parse_attributes("random").for_person(0, None, np.random.default_rng(3))
    assert drawn.beard is None and drawn.hair_color is None
    assert describe_value("beard", "none") == "clean-shaven"


def test_the_avatar_hair_follows_the_request_and_nothing_else_moves():
    base = Attributes(gender="female", age="30s", ethnicity="east asian")
    plain = sample_outfit(base, np.random.default_rng(1))
    asked = sample_outfit(Attributes(gender="female", age="30s", ethnicity="east asian",
                                     hair_color="blond", hair_length="short"),
                          np.random.default_rng(1))
    assert (asked.hair_color, asked.long_hair) == ("blond", False)
    assert (asked.top, asked.top_color, asked.bottom) == (plain.top, plain.top_color, plain.bottom)
    bald = sample_outfit(Attributes(hair_length="bald"), np.random.default_rng(1))
    assert bald.bald and bald.to_json()["bald"] is True and "bald" not in plain.to_json()
