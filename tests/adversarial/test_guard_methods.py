"""Misbehaving methods through the whole runner: whatever a method does or claims, no
region leaves the run looking as it did, and the audit says ``masked`` with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from adversarial.helpers import audit, sample
from understudy.run.anonymizer import AnonymizeOptions, Anonymizer
from understudy.run.local import RunOptions, run
from understudy.scene import Face, Frame, Outcome, RegionResult, Result, Scene

BOXES = [np.array([181.5, 58.2, 269.9, 177.8], np.float32),  # the astronaut's face
         np.array([360, 300, 440, 400], np.float32)]


class TwoFaces:
    """A perceiver that always finds the same two faces (no detector in the way)."""

    def perceive(self, frame):
        return Scene(frame, faces=[Face(b.copy(), 0.9) for b in BOXES], target="faces")


def records(scene, outcome):
    return [RegionResult(r.kind, r.box, r.score, outcome) for r in scene.regions()]


def shifted(scene, levels):
    image = scene.image.astype(np.int16)
    for region in scene.regions():
        image[region.mask] += levels
    return np.clip(image, 0, 255).astype(np.uint8)


def half_regions(scene):
    """Blacks out the first region only, claims both replaced."""
    image = scene.image.copy()
    image[scene.regions()[0].mask] = 0
    return image


def raise_(exc):
    raise exc


BEHAVIOURS = {
    "raises": lambda s: raise_(RuntimeError("boom")),
    "raises-memory": lambda s: raise_(MemoryError()),
    "returns-none": lambda s: None,
    "wrong-shape": lambda s: Result(s.image[:10], records(s, Outcome.REPLACED)),
    "float-image": lambda s: Result(s.image.astype(np.float32), records(s, Outcome.REPLACED)),
    "too-few-records": lambda s: Result(s.image.copy(), records(s, Outcome.REPLACED)[:1]),
    "records-not-results": lambda s: Result(s.image.copy(), ["replaced"] * len(s.regions())),
    "claims-replaced-untouched": lambda s: Result(s.image.copy(), records(s, Outcome.REPLACED)),
    "claims-skipped": lambda s: Result(s.image.copy(), records(s, Outcome.SKIPPED)),
    "claims-masked": lambda s: Result(s.image.copy(), records(s, Outcome.MASKED)),
    "claims-failed": lambda s: Result(s.image.copy(), records(s, Outcome.FAILED)),
    "plus-2-levels": lambda s: Result(shifted(s, 2), records(s, Outcome.REPLACED)),
    "minus-5-levels": lambda s: Result(shifted(s, -5), records(s, Outcome.REPLACED)),
    "one-of-two": lambda s: Result(half_regions(s), records(s, Outcome.REPLACED)),
}


class Misbehaves:
    def __init__(self, name):
        self.name, self.behave = name, BEHAVIOURS[name]

    def anonymize(self, scene, rng):
        return self.behave(scene)


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_no_misbehaving_method_leaks_a_region(tmp_path, name):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    original = np.asarray(Image.open(sample()).convert("RGB"))
    Image.fromarray(original).save(src / "photo.png")  # lossless: pixels can be compared
    options = RunOptions([str(src)], str(dst), AnonymizeOptions("maskout"))
    anonymizer = Anonymizer(options.anonymize, method=Misbehaves(name), perceiver=TwoFaces())
    summary = run(options, anonymizer=anonymizer)
    assert summary.ok == 1 and summary.failed == 0
    (row,) = audit(dst)
    output = np.asarray(Image.open(dst / "photo.png").convert("RGB"))
    scene = TwoFaces().perceive(Frame(original, "photo.png"))
    for region, record in zip(scene.regions(), row["regions"]):
        visible = np.abs(output[region.mask].astype(int) - original[region.mask]).max(axis=1)
        still_there = float((visible < 8).mean())
        if record["outcome"] == "masked":
            assert (output[region.mask] == 0).all(), (name, record)
            assert record.get("reason"), record
        else:  # only a real change may be called replaced
            assert record["outcome"] == "replaced" and still_there < 0.7, (name, record)
    if name != "one-of-two":
        assert all(r["outcome"] == "masked" for r in row["regions"]), row["regions"]
    else:
        assert [r["outcome"] for r in row["regions"]] == ["replaced", "masked"]
