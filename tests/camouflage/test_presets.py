"""``--preset paper``: CAMOUFLaGE-Base and -Light at the paper's scope, the whole scene
regenerated (issue 15, item 4), through the registry's presets."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.methods.registry import get_spec, load_method


@pytest.mark.parametrize("name", ["camouflage", "camouflage-light"])
def test_paper_preset_is_scene_mode(name):
    assert "paper" in get_spec(name).presets
    assert load_method(f"{name}:paper").options.mode == "scene"
    assert load_method(name, preset="paper").options.mode == "scene"
    assert load_method(name).options.mode == "person"  # our default keeps the background
    assert load_method(f"{name}:paper", mode="person").options.mode == "person"  # options win
    with pytest.raises(UsageError, match="no preset 'papers'; available: paper"):
        load_method(name, preset="papers")


def test_cli_preset_paper_regenerates_the_background(tiny_dir, tmp_path, small_image):
    import json

    from PIL import Image

    from understudy.cli import main
    from understudy.evaluation.api import evaluate

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(small_image).save(src / "a.png")
    common = ["anonymize", str(src), "--method", "camouflage", "--model", str(tiny_dir / "sd"),
              "--option", f"controlnets=canny={tiny_dir / 'controlnet'}",
              "--option", f"negative_controlnet={tiny_dir / 'idf'}", "--option", "steps=2",
              "--option", "resolution=64", "--attributes", "random", "--quiet"]
    assert main([*common, "-o", str(tmp_path / "paper"), "--preset", "paper"]) == 0
    assert main([*common, "-o", str(tmp_path / "person")]) == 0
    paper = np.asarray(Image.open(tmp_path / "paper" / "a.png")).astype(int)
    person = np.asarray(Image.open(tmp_path / "person" / "a.png")).astype(int)
    corner = (slice(100, 128), slice(0, 28))  # sky and wall, far from the astronaut's face
    assert np.abs(paper[corner] - small_image[corner]).mean() > 1
    np.testing.assert_array_equal(person[corner], small_image[corner])
    assert main([*common, "-o", str(tmp_path / "x"), "--method", "camouflage:fast",
                 "--preset", "paper"]) == 2

    # The audit says scene mode changes the whole image on purpose, and the evaluation
    # reports that change as intended, apart from region methods' collateral change.
    rows = {name: json.loads((tmp_path / name / "audit.jsonl").read_text().splitlines()[0])
            for name in ("paper", "person")}
    assert rows["paper"]["scope"] == "scene" and "scope" not in rows["person"]
    report = evaluate(src, {"paper": tmp_path / "paper", "person": tmp_path / "person"},
                      tmp_path / "report", measures=("quality",), reference_row=False)
    paper, person = (report["methods"][n]["quality"] for n in ("paper", "person"))
    assert paper["changed_scene"] > 0 and "changed_outside" not in paper
    assert "changed_scene" not in person and "changed_outside" in person

