"""Stage 3 through the real loading path: tiny random SD and ControlNet weights are saved
with save_pretrained and reloaded by RefSD from folders (local_files_only), as users do."""

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.run.guard import run_guarded
from understudy.methods.refsd import RefSD, RefSDOptions
from understudy.methods.registry import load_method
from understudy.regions import dilate
from understudy.scene import Outcome

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from understudy.diffusion.tiny import save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny")
    return {kind: str(save_tiny_pipeline(kind, root / kind, seed=0))
            for kind in ("sd", "controlnet", "inpaint")}


def run(body, scene, options, seed=0):
    method = RefSD(options, body=body)
    try:
        return run_guarded(method, scene, np.random.default_rng(seed)), method
    finally:
        method.close()


def test_stage3_with_pose_and_canny_controlnets(body, astronaut_scene, tiny_weights):
    options = RefSDOptions(attributes="gender=female,age=40s", model=tiny_weights["sd"],
                           pose_controlnet=tiny_weights["controlnet"],
                           canny_controlnet=tiny_weights["controlnet"], steps=2,
                           resolution=128, fit_steps=10, strength=0.6)
    result, method = run(body, astronaut_scene, options)
    record = result.regions[0]
    assert record.outcome == Outcome.REPLACED, record.reason
    assert record.attributes["mode"] == "refined"
    assert "woman in her forties" in record.attributes["prompt"]
    assert result.notes == []  # no render-mode note with weights
    region = astronaut_scene.regions()[0]
    allowed = dilate(region.mask, method.margin_for(region.mask))
    assert np.array_equal(result.image[~allowed], astronaut_scene.image[~allowed])
    assert method.timings["refine"] > 0
    again, _ = run(body, astronaut_scene, options)
    assert np.array_equal(again.image, result.image)  # seeded diffusion


def test_sd_inpainting_and_img2img_without_controlnets(body, astronaut_scene, tiny_weights):
    method = load_method("refsd", model=tiny_weights["sd"], inpaint_model=tiny_weights["inpaint"],
                         steps=3, resolution=64, fit_steps=5)
    method._body = body  # share the session's model instead of loading another
    result = run_guarded(method, astronaut_scene, np.random.default_rng(1))
    method.close()
    assert result.regions[0].outcome == Outcome.REPLACED
    assert result.regions[0].attributes["inpaint"] == "sd"


def test_options_teach():
    with pytest.raises(UsageError, match="need SD weights"):
        RefSDOptions(pose_controlnet="x/y")
    with pytest.raises(UsageError, match="strength"):
        RefSDOptions(model="org/name", strength=0)
    with pytest.raises(UsageError, match="raise steps"):
        RefSDOptions(model="org/name", steps=2, strength=0.3)
    with pytest.raises(UsageError, match="does not exist"):
        RefSD(RefSDOptions(model="/nonexistent/sd")).refiner.pipeline()
