import json

import numpy as np
import pytest

from understudy.attributes import (DISTRIBUTIONS, VOCABULARY, Attributes, parse_attributes,
                                   sample_values)
from understudy.errors import UsageError


def test_fixed_attributes_apply_to_everyone_and_normalize():
    source = parse_attributes("age=35,gender=woman,ethnicity=East Asian,emotion=smiling")
    for i in range(3):
        a = source.for_person(i, None, np.random.default_rng(i))
        assert (a.age, a.gender, a.ethnicity, a.emotion) == ("30s", "female", "east asian",
                                                             "happy")
    prompt = a.prompt("a red t-shirt")
    assert "east asian woman in her thirties" in prompt and "smiling" in prompt
    assert "wearing a red t-shirt" in prompt


def test_left_out_keys_are_sampled_and_seeded():
    source = parse_attributes("gender=male")
    a = source.for_person(0, None, np.random.default_rng(5))
    b = source.for_person(0, None, np.random.default_rng(5))
    assert a == b and a.gender == "male"
    draws = {source.for_person(0, None, np.random.default_rng(s)).age for s in range(40)}
    assert len(draws) > 2


def test_random_follows_documented_distribution():
    rng = np.random.default_rng(0)
    n = 3000
    counts = {}
    for _ in range(n):
        g = sample_values(rng)["gender"]
        counts[g] = counts.get(g, 0) + 1
    assert abs(counts["female"] / n - DISTRIBUTIONS["gender"]["female"]) < 0.04
    for key, dist in DISTRIBUTIONS.items():
        assert set(dist) == set(VOCABULARY[key])
        assert abs(sum(dist.values()) - 1) < 1e-6


@pytest.mark.parametrize("text,fragment", [
    ("age=12", "below 18"), ("gender=robot", "allowed: female, male"),
    ("hat=red", "attribute 'hat' is not known"), ("age=,gender=male", "not key=value"),
    ("nofile", "neither 'random'"),
])
def test_bad_requests_teach(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_attributes(text)


def test_per_person_file_most_specific_wins(tmp_path):
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"*": "emotion=sad", "0": {"gender": "female", "age": "40s"},
                                "track:7": "gender=male", "street.jpg#1": "age=70s"}))
    source = parse_attributes(str(path))
    rng = np.random.default_rng
    a0 = source.for_person(0, None, rng(0), source="/data/street.jpg")
    assert (a0.gender, a0.age, a0.emotion) == ("female", "40s", "sad")
    assert source.for_person(0, 7, rng(0)).gender == "male"  # track beats index
    assert source.for_person(1, None, rng(0), source="/data/street.jpg").age == "70s"
    assert source.for_person(3, None, rng(0), overrides={"age": "20s"}).age == "20s"
    yaml_path = tmp_path / "people.yaml"
    yaml_path.write_text("- gender=male\n- {gender: female}\n")
    assert parse_attributes(str(yaml_path)).for_person(1, None, rng(0)).gender == "female"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="cannot be parsed"):
        parse_attributes(str(bad))


def test_attributes_json_roundtrip():
    a = Attributes(age="60s", gender="male", ethnicity="latino", emotion="surprise")
    assert Attributes(**json.loads(json.dumps(a.to_json()))) == a
