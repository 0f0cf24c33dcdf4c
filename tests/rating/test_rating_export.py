"""Export: CSV of every answer, means with CIs, agreement, attention checks, plots, JSON."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from understudy.cli import main
from understudy.errors import UsageError
from understudy.rating import ExportOptions, export_study
from understudy.rating.stats import bootstrap_mean, krippendorff_alpha


def answer_all(study, policy):
    """Answer every question of every annotator with ``policy(annotator, item, question)``."""
    for a in study.annotators():
        for position in range(study.count_assigned(a)):
            view = study.item_at(a, position)
            for q in view.questions:
                study.save_answer(a, view.id, q.id, policy(a, view, q))


def method_of(study, item_id):
    with study.reading() as conn:
        return conn.execute("SELECT img.method FROM items i JOIN images img ON img.id = i.image_id "
                            "WHERE i.id = ?", (item_id,)).fetchone()[0]


def test_krippendorff_reference_values():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 x 12 example
    n = np.nan
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
                     [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]])
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for metric, value in expected.items():
        assert krippendorff_alpha(data, metric) == pytest.approx(value, abs=5e-4)
    assert krippendorff_alpha(np.array([[1, 2, 3], [1, 2, 3]]), "ordinal") == 1.0
    assert np.isnan(krippendorff_alpha(np.array([[1, 1], [1, 1]])))


def test_bootstrap_interval_covers_and_shrinks():
    rng = np.random.default_rng(0)
    small = 3 + rng.normal(0, 1, (3, 10))
    large = 3 + rng.normal(0, 1, (10, 200))
    e_small = bootstrap_mean(small, np.random.default_rng(1), 500)
    e_large = bootstrap_mean(large, np.random.default_rng(1), 500)
    assert e_small.low < e_small.mean < e_small.high
    assert e_large.low < 3.0 < e_large.high
    assert (e_large.high - e_large.low) < (e_small.high - e_small.low) / 2
    assert e_small.n == 30 and e_small.annotators == 3 and e_small.items == 10


def test_export_means_agreement_and_attention(study, tmp_path):
    a1, a2, a3 = study.annotators()
    scores = {"original": "5", "blur": "2", "refsd": "4"}

    def policy(a, view, q):
        if q.expected:  # attention checks: A3 fails them all
            return q.expected[0] if a.label != a3.label else ("5" if q.kind == "realism" else "1")
        if q.kind == "realism":
            return scores[method_of(study, view.id)]
        if q.kind == "identity":
            return "1" if method_of(study, view.id) == "blur" else "2"
        return "4"

    answer_all(study, policy)
    out = tmp_path / "export"
    result = export_study(study, out, ExportOptions(resamples=200))
    for name in ("answers.csv", "summary.csv", "rating.md", "rating.json",
                 "realism_identity.png", "attributes_by_method.png",
                 "attributes_by_complexity.png"):
        assert (out / name).stat().st_size > 0, name
    assert result["annotators"]["A3"]["excluded"] is True
    assert result["annotators"]["A1"]["attention_pass_rate"] == 1.0
    m = result["methods"]
    assert m["original"]["realism"]["mean"] == 5.0
    assert m["blur"]["realism"]["mean"] == 2.0 and m["refsd"]["realism"]["mean"] == 4.0
    assert m["blur"]["identity"]["mean"] == 1.0
    assert m["refsd"]["realism"]["annotators"] == 2  # A3 left out
    assert set(m["refsd"]["attributes"]) == {"age", "gender", "emotion"}
    assert set(m["refsd"]["by_complexity"]) == {"1", "2", "3"}
    assert result["agreement"]["realism"]["krippendorff_alpha"] == 1.0
    with open(out / "answers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(study.answer_rows())
    assert {r["annotator"] for r in rows if r["excluded"] == "1"} == {"A3"}
    assert json.loads((out / "rating.json").read_text())["study"] == "s1"
    # `understudy evaluate` shows the export when it lies in the report folder
    from understudy.evaluation.report import rating_table

    table = rating_table(json.loads((out / "rating.json").read_text()))
    by_method = {row[0]: row for row in table["rows"]}
    assert by_method["refsd"][1].startswith("4.00") and by_method["blur"][2].startswith("1.00")
    assert "realism_identity.png" in table["plots"]
    # with no attention threshold everyone counts and A3's realism answers disagree
    loose = export_study(study, tmp_path / "loose", ExportOptions(min_attention=0.0, plots=False))
    assert loose["methods"]["refsd"]["realism"]["annotators"] == 3


def test_export_choice_questions_score_accuracy(make_study, tmp_path):
    study = make_study("choice", attribute_question="choice")
    answer_all(study, lambda a, view, q: (q.target if q.kind == "attribute" and a.label != "A2"
                                          else q.choices[-1][0]))
    result = export_study(study, tmp_path / "out", ExportOptions(resamples=200, min_attention=0))
    acc = result["methods"]["refsd"]["attributes_all"]["mean"]
    assert acc == pytest.approx(2 / 3)  # A1 and A3 name the prompt, A2 never ("can't tell")
    assert result["agreement"]["attribute"]["metric"] == "nominal"


def test_cli_create_serve_args_export(tmp_path, capsys):
    from PIL import Image

    for folder in ("o", "m"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.new("RGB", (32, 32), (i * 60, 100, 50)).save(tmp_path / folder / f"{i}.jpg")
    studies = str(tmp_path / "st")
    base = ["rate", "create", "--study", "c1", "--studies-dir", studies,
            "--original", str(tmp_path / "o")]
    assert main(base + ["--anonymized", f"m={tmp_path / 'm'}", "--annotators", "2"]) == 0
    assert "9 items + 2 attention checks, 2 annotators" in capsys.readouterr().out
    assert main(base + ["--anonymized", f"m={tmp_path / 'm'}"]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    assert main(["rate", "create", "--study", "c2", "--studies-dir", studies, "--original",
                 str(tmp_path / "o"), "--anonymized", "original=x"]) == 2
    assert main(["rate", "create", "--study", "../evil", "--studies-dir", studies, "--original",
                 str(tmp_path / "o"), "--anonymized", f"m={tmp_path / 'm'}"]) == 2
    assert main(["rate", "annotators", "--study", "c1", "--studies-dir", studies,
                 "--add", "1"]) == 0
    assert capsys.readouterr().out.count("/s/") == 3
    assert main(["rate", "export", "--study", "nope", "--studies-dir", studies, "-o",
                 str(tmp_path / "x")]) == 2
    assert main(["rate", "export", "--study", "c1", "--studies-dir", studies, "-o",
                 str(tmp_path / "x")]) == 0
    assert json.loads((tmp_path / "x" / "rating.json").read_text())["methods"] == {}


def test_attribute_file_errors(tmp_path):
    from understudy.rating.attribute_file import load_attributes

    bad = tmp_path / "a.csv"
    bad.write_text("file,age\nx.png,old\n")
    with pytest.raises(UsageError, match="'image' column"):
        load_attributes(bad, ["m"])
    bad.write_text("image,method,age\nx.png,other,old\n")
    with pytest.raises(UsageError, match="method 'other'"):
        load_attributes(bad, ["m"])
    bad.write_text("image,age\nx.png,old\nx.png,young\n")
    with pytest.raises(UsageError, match="appears twice"):
        load_attributes(bad, ["m"])
    js = tmp_path / "a.json"
    js.write_text(json.dumps({"m": {"sub/x.png": {"age": "old"}}, "y": {"gender": "male"}}))
    table = load_attributes(js, ["m"])
    assert table.lookup("m", "sub/x.png") == {"age": "old"}
    assert table.lookup("other", "y.jpg") == {"gender": "male"}
