"""The whole chain on the bundled samples, with no hand-written file between the steps:
anonymize (RefSD, render mode) → audit export → evaluate → utility → rate create."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from understudy.cli import main
from understudy.samples import sample_paths


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("chain")
    src = root / "src"
    src.mkdir()
    for path in sample_paths():
        shutil.copy(path, src / path.name)
    out = root / "refsd"
    # No --target: RefSD works on people only, so it implies it.
    assert main(["anonymize", str(src), "-o", str(out), "--method", "refsd",
                 "--attributes", "random", "--seed", "1"]) == 0
    return {"root": root, "src": src, "out": out}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_audit_export_feeds_evaluate_utility_and_rating(run, capsys):
    root, src, out = run["root"], run["src"], run["out"]
    labels, attributes = root / "labels.csv", root / "attributes.csv"
    assert main(["audit", "export", str(out), "--labels", str(labels),
                 "--attributes", str(attributes)]) == 0

    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    people = {(row["output"], tuple(r["box"])): r["attributes"]["attributes"]
              for row in audit for r in row["regions"]
              if r["kind"] == "person" and r["outcome"] == "replaced"}
    rows = _rows(labels)
    assert len(rows) == len(people) == 2  # one stand-in per sample photo
    for row in rows:
        box = tuple(float(row[c]) for c in ("x0", "y0", "x1", "y1"))
        given = people[(row["image"], box)]
        assert {k: row[k] for k in given} == {k: str(v) for k, v in given.items()}
    per_image = _rows(attributes)
    assert {r["image"] for r in per_image} == {p.name for p in src.iterdir()}
    assert all(r["method"] == "refsd" and r["gender"] for r in per_image)

    report_dir = root / "report"
    assert main(["evaluate", "--original", str(src), "--anonymized", f"refsd={out}",
                 "-o", str(report_dir), "--measures", "faces,attributes"]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert report["methods"]["refsd"]["attributes"]["prompts"] == 2  # RefSD's prompts seen

    utility_dir = root / "utility"
    assert main(["utility", "--real", str(src), "--synthetic", str(out), "--test", str(src),
                 "--labels", str(labels), "--task", "classify", "--epochs", "1",
                 "--image-size", "64", "--seeds", "1", "-o", str(utility_dir), "-q"]) == 0
    assert (utility_dir / "utility.json").is_file()

    studies = root / "studies"
    assert main(["rate", "create", "--study", "chain", "--studies-dir", str(studies),
                 "--original", str(src), "--anonymized", f"refsd={out}",
                 "--attributes", str(attributes), "--annotators", "1"]) == 0
    assert any((studies / "chain").iterdir())


def test_audit_export_needs_a_run_and_an_output(tmp_path, capsys):
    assert main(["audit", "export", str(tmp_path), "--labels", str(tmp_path / "l.csv")]) == 2
    assert "no audit.jsonl" in capsys.readouterr().err
    assert main(["audit", "export", str(tmp_path)]) == 2
