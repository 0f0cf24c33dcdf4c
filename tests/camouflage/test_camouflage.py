"""CAMOUFLaGE-Base as a method: options, sweeps, person/scene modes, paste-back, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.methods.camouflage import CamouflageOptions
from understudy.methods.registry import variants
from understudy.methods.registry import load_method
from understudy.scene import Frame, Outcome, Person, Scene


def person_scene(image):
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[30:110, 40:90] = True
    kp = np.zeros((33, 3), np.float32)
    for i, (x, y) in {0: (65, 40), 11: (80, 60), 12: (50, 60), 23: (75, 90), 24: (55, 90)}.items():
        kp[i] = (x, y, 0.9)
    person = Person(np.array([40, 30, 90, 110], np.float32), 0.9, mask=mask, keypoints2d=kp)
    return Scene(Frame(image, source="astronaut.png"), people=[person], target="people", seed=0)


@pytest.fixture(scope="module")
def method_options(tiny_dir):
    return dict(model=str(tiny_dir / "sd"),
                controlnets=f"pose={tiny_dir / 'controlnet'},canny={tiny_dir / 'controlnet'}",
                control_weights="pose=1.0,canny=0.5", negative_controlnet=str(tiny_dir / "idf"),
                steps=3, resolution=64, guidance_scale=3.0, attributes="age=30s,gender=female")


def test_options_teach():
    with pytest.raises(UsageError, match="not an annotator"):
        CamouflageOptions(controlnets="lineart=x")
    with pytest.raises(UsageError, match="control_weights gives depth"):
        CamouflageOptions(controlnets="pose=x", control_weights="depth=0.5")
    with pytest.raises(UsageError, match="anonymization_scale"):
        CamouflageOptions(anonymization_scale=-1)
    with pytest.raises(UsageError, match="mode 'face'"):
        CamouflageOptions(mode="face")
    with pytest.raises(UsageError, match="strength"):
        CamouflageOptions(strength=0)
    with pytest.raises(UsageError, match="needs SD weights: set model"):
        load_method("camouflage").models()
    with pytest.raises(UsageError, match="needs negative_controlnet"):
        load_method("camouflage", model="org/sd", controlnets="pose=org/cn").models()


def test_expand_sweep():
    sweep = variants("camouflage", {"anonymization_scale": "0,1,1.5,2", "model": "m"})
    assert [s for s, _ in sweep] == ["as_0", "as_1", "as_1.5", "as_2"]
    assert [o["anonymization_scale"] for _, o in sweep] == [0.0, 1.0, 1.5, 2.0]
    assert all(o["model"] == "m" for _, o in sweep)
    assert variants("camouflage", {"anonymization_scale": [2]}) == \
        [("", {"anonymization_scale": 2.0})]
    assert variants("blur", {"sigma": 3}) == [("", {"sigma": 3})]
    with pytest.raises(UsageError, match="anonymization_scale"):
        variants("camouflage", {"anonymization_scale": "1,inf"})
    assert load_method("camouflage", anonymization_scale=[0, 2]).options.scales == (0.0, 2.0)


def test_person_mode_changes_only_the_person(method_options, small_image):
    method = load_method("camouflage", **method_options)
    scene = person_scene(small_image)
    result = method.anonymize(scene, np.random.default_rng(0))
    assert result.image.shape == small_image.shape
    (record,) = result.regions
    assert record.outcome == Outcome.REPLACED and record.attributes["gender"] == "female"
    region = scene.regions()[0].mask
    from understudy.regions import dilate

    outside = ~dilate(region, method.options.blend)
    np.testing.assert_array_equal(result.image[outside], small_image[outside])
    assert np.abs(result.image[region].astype(int) - small_image[region]).mean() > 5
    again = method.anonymize(scene, np.random.default_rng(0))
    np.testing.assert_array_equal(again.image, result.image)  # same seed, same stand-in


def test_sweep_and_scene_mode(method_options, small_image):
    scene = person_scene(small_image)
    method = load_method("camouflage", **{**method_options, "anonymization_scale": [0, 1, 2]})
    with pytest.raises(UsageError, match="several values"):
        method.anonymize(scene, np.random.default_rng(0))
    results = method.anonymize_sweep(scene, np.random.default_rng(0))
    assert [s for s, _ in results] == ["as_0", "as_1", "as_2"]
    images = [r.image.astype(int) for _, r in results]
    assert np.abs(images[0] - images[2]).mean() > 0.5
    # the per-scale methods of a CLI sweep share one copy of the weights
    a, b = (load_method("camouflage", **{**method_options, "anonymization_scale": s})
            for s in (0.0, 2.0))
    assert a.models()["pipe"] is b.models()["pipe"]
    whole = load_method("camouflage", **{**method_options, "mode": "scene"})
    out = whole.anonymize(scene, np.random.default_rng(0))
    far = np.zeros(small_image.shape[:2], bool)
    far[:, 110:] = True  # far from the person: scene mode regenerates it anyway
    assert np.abs(out.image[far].astype(int) - small_image[far]).mean() > 1
    assert out.regions[0].outcome == Outcome.REPLACED


def test_cli_sweep_writes_one_output_per_scale(tiny_dir, tmp_path, small_image):
    """`understudy anonymize --anonymization-scale 0,1,2` -> DST/as_0, as_1, as_2."""
    import cv2
    from PIL import Image

    from understudy.cli import main

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(cv2.resize(small_image, (256, 256))).save(src / "a.png")
    code = main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--method", "camouflage",
                 "--model", str(tiny_dir / "sd"),
                 "--option", f"controlnets=pose={tiny_dir / 'controlnet'}",
                 "--option", f"negative_controlnet={tiny_dir / 'idf'}",
                 "--option", "steps=2", "--option", "resolution=64",
                 "--anonymization-scale", "0,1,2", "--quiet"])
    assert code == 0
    outs = {s: np.asarray(Image.open(tmp_path / "out" / s / "a.png")) for s in ("as_0", "as_1", "as_2")}
    assert np.abs(outs["as_0"].astype(int) - outs["as_2"]).mean() > 0.01
