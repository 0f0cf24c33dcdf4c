"""The issue's acceptance: real photos of two people per image, anonymized by the baselines.

``original`` itself must give R@1 = 100 and leak 100 % with both recognizers, mask-out leak
0 %, weak blur in between; the report must render in headless Chromium; a re-run must
reuse every analysis; the CLI must write the same report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from understudy.evaluation.api import evaluate


@pytest.fixture(scope="session")
def report_dir(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    sets = {name: path for name, path in dataset.items() if name != "original"}
    evaluate(dataset["original"], {"original": dataset["original"], **sets}, out, progress=False)
    return out


@pytest.fixture(scope="session")
def report(report_dir) -> dict:
    return json.loads((report_dir / "report.json").read_text())


@pytest.mark.parametrize("recognizer", ["dlib", "sface"])
def test_privacy_orders_original_weak_blur_maskout(report, recognizer):
    faces = {name: m["faces"][recognizer] for name, m in report["methods"].items()}
    assert faces["original"]["faces"] == 6  # two people in each of three photos
    assert faces["original"]["full_reference"]["R@1"] == 100.0
    assert faces["original"]["leak_rate"] == 100.0
    assert faces["maskout"]["leak_rate"] == 0.0
    assert faces["maskout"]["full_reference"]["R@1"] == 0.0
    assert faces["maskout"]["not_found"] == 6  # a filled head has no face to find
    assert faces["blur"]["leak_rate"] == 0.0  # the default (strong) blur hides these faces
    # A 3 px blur is the poster's WeakBlur: between the two, and still leaking.
    assert 0.0 < faces["blur-weak"]["leak_rate"] <= 100.0
    assert faces["maskout"]["full_reference"]["mAP"] < faces["blur-weak"]["full_reference"]["mAP"] \
        <= faces["original"]["full_reference"]["mAP"]
    assert faces["original"]["pair_score_mean"] == pytest.approx(1.0 if recognizer == "sface" else 0.0,
                                                                abs=1e-6)


def test_weak_blur_strictly_between_for_at_least_one_recognizer(report):
    leaks = [report["methods"]["blur-weak"]["faces"][r]["leak_rate"] for r in ("dlib", "sface")]
    assert min(leaks) < 100.0


def test_face_only_methods_keep_posture_body_and_background(report):
    m = report["methods"]
    assert m["original"]["posture"]["oks"] == 100.0
    for name in ("blur-weak", "blur", "maskout"):
        assert m[name]["quality"]["changed_outside"] == 0.0  # pixels outside people untouched
        assert m[name]["posture"]["people"] >= 6
        # Shoulders to ankles stay where they were when only the head changed.
        assert m[name]["posture"]["oks_body"] > m[name]["posture"]["oks"] - 1e-9
    assert m["blur-weak"]["posture"]["oks_body"] > 90
    assert m["maskout"]["quality"]["ssim"] < m["blur-weak"]["quality"]["ssim"] < 1.0
    appearance = {n: m[n]["body"]["appearance"]["pair_cosine_mean"] for n in m}
    assert appearance["original"] == pytest.approx(1.0, abs=1e-4)
    assert appearance["maskout"] < appearance["blur-weak"] < appearance["original"]


def test_attributes_time_and_models_are_reported(report):
    m = report["methods"]
    assert m["original"]["attributes"]["gender_kept"] == 100.0
    assert m["maskout"]["attributes"]["measured"] == 0  # no face left to read
    assert m["blur-weak"]["time"]["images"] == 3 and m["blur-weak"]["time"]["seconds_mean"] > 0
    for key in ("rec-dlib", "rec-sface", "attributes", "appearance", "pose"):
        assert key in report["models"], key
    assert len(report["models"]["rec-sface"]["sha256"]["recognizer"]) == 64


def test_rerun_reuses_every_analysis(dataset, report_dir, report):
    sets = {name: path for name, path in dataset.items() if name != "original"}
    again = evaluate(dataset["original"], {"original": dataset["original"], **sets}, report_dir,
                     progress=False)
    assert again["cache"]["computed"] == 0 and again["cache"]["hits"] > 0
    for name in sets:
        assert again["methods"][name]["faces"] == report["methods"][name]["faces"]


def test_changing_one_image_recomputes_only_that_image(dataset, report_dir, tmp_path):
    copy = tmp_path / "maskout"
    shutil.copytree(dataset["maskout"], copy)
    from PIL import Image

    import numpy as np

    # "Anonymized" = the original with one corner pixel changed: new content, faces intact.
    pixels = np.asarray(Image.open(dataset["original"] / "group1.png")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(copy / "group1.png")
    out = evaluate(dataset["original"], {"maskout": copy}, tmp_path / "report", progress=False,
                   reference_row=False, measures="faces", cache_dir=str(report_dir / "cache"))
    assert out["cache"]["computed"] == 2  # that one file, once per recognizer
    # Both of that image's faces now leak.
    assert out["methods"]["maskout"]["faces"]["sface"]["leaks"] == 2


def test_report_html_renders_in_chromium(report_dir, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((report_dir / "report.html").as_uri())
        text = page.inner_text("body")
        rows = page.eval_on_selector_all("#privacy-sface-full_reference tr",
                                         "rs => rs.map(r => r.innerText)")
        images = page.eval_on_selector_all(
            "#examples-grid img", "is => is.map(i => [i.complete, i.naturalWidth])")
        svgs = page.eval_on_selector_all(".plots svg", "s => s.length")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    for heading in ("Privacy: face re-identification", "Posture", "Attributes", "Quality",
                    "Examples, worst first", "Appearance similarity, not re-identification"):
        assert heading in text
    assert any(r.startswith("maskout") and "0.0" in r for r in rows)
    assert any(r.startswith("original") and "100.0" in r for r in rows)
    assert len(images) == 3 * 5 and all(ok and width > 0 for ok, width in images)
    assert svgs >= 2
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape[0] > 1500 and pixels.std() > 20  # a long page with content, not blank


def test_cli_writes_the_report_and_rejects_bad_sets(dataset, report_dir, tmp_path, capsys):
    from understudy.cli import main

    out = tmp_path / "cli"
    # Several sets after one --anonymized, as the README writes it.
    code = main(["evaluate", "--original", str(dataset["original"]), "--anonymized",
                 f"maskout={dataset['maskout']}", f"weak={dataset['blur-weak']}", "-o", str(out),
                 "--no-progress", "--measures", "faces", "--cache-dir",
                 str(report_dir / "cache")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "maskout" in printed and "leak 0.0%" in printed and "weak" in printed
    assert (out / "report.html").is_file() and json.loads((out / "report.json").read_text())
    assert main(["evaluate", "--original", str(dataset["original"]), "--anonymized",
                 str(tmp_path / "nowhere"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and len(err.strip().splitlines()) == 1
