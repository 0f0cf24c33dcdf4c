"""The evaluation reads the attributes every method prompted its stand-ins with, whatever
the shape of the method's audit row (RefSD nests them one level down)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from understudy.cli import main
from understudy.evaluation import attribute_fidelity as attrs
from understudy.evaluation.api import evaluate
from understudy.samples import SAMPLES_DIR


def test_both_audit_shapes_give_the_same_prompt():
    flat = {"gender": "female", "age": "30s", "emotion": "happy"}
    nested = {"method": "refsd", "attributes": flat, "outfit": {"top": "blue shirt"}}
    assert attrs.prompt_of(nested) == attrs.prompt_of(flat)
    assert attrs.prompt_of(flat)["gender"] == "female"


def test_refsd_prompts_are_counted_from_a_real_audit(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLES_DIR / "astronaut.jpg", src / "astronaut.jpg")
    out = tmp_path / "refsd"
    assert main(["anonymize", str(src), "-o", str(out), "--method", "refsd", "--target",
                 "people", "--attributes", "gender=male,age=40s", "--seed", "0"]) == 0
    rows = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    person = next(r for row in rows for r in row.get("regions", []) if r["kind"] == "person")
    assert person["outcome"] == "replaced"
    assert person["attributes"]["attributes"]["gender"] == "male"  # RefSD's nested shape
    report = evaluate(src, {"refsd": out}, tmp_path / "report",
                      measures=("faces", "attributes"), reference_row=False)
    measured = report["methods"]["refsd"]["attributes"]
    # Every replaced person's prompt is counted: shown (a face was read) or unmeasured.
    assert measured["prompts"] == 1
