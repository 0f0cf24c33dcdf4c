"""The loading code: tiny folders saved and reloaded, layouts checked, errors that teach."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.diffusion import loading
from understudy.errors import UsageError


def test_describe_every_tiny_kind(tiny_dir):
    sd = loading.describe_model(str(tiny_dir / "sd"))
    assert sd["ok"] and sd["kind"] == "pipeline" and sd["unet_in_channels"] == 4
    assert not sd["inpainting"] and {"unet", "vae", "tokenizer"} <= set(sd["components"])
    assert loading.describe_model(str(tiny_dir / "inpaint"))["inpainting"]
    cn = loading.describe_model(str(tiny_dir / "controlnet"))
    assert cn["kind"] == "controlnet" and not cn["latent_conditioned"]
    idf = loading.describe_model(str(tiny_dir / "idf"))
    assert idf["kind"] == "controlnet" and idf["latent_conditioned"]
    missing = loading.describe_model("/no/such/folder")
    assert not missing["ok"] and missing["source"] == "missing"
    hub = loading.describe_model("someone/not-downloaded-model")
    assert hub["source"] == "hub" and "downloaded" in hub["problem"]


def test_reload_generates_deterministically(tiny_dir):
    import torch

    pipe = loading.load_pipeline(str(tiny_dir / "sd"), "sd", device="auto")
    assert pipe.unet.dtype == torch.float32 and pipe.device.type == "cpu"
    run = lambda seed: pipe("a photo of a person", num_inference_steps=3, height=64, width=64,  # noqa: E731
                            generator=torch.Generator().manual_seed(seed), output_type="np").images
    a, b, c = run(0), run(0), run(1)
    assert a.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-4


def test_every_pipeline_kind_loads(tiny_dir):
    import torch
    from PIL import Image

    img = Image.new("RGB", (64, 64), (120, 80, 40))
    cn = [str(tiny_dir / "controlnet")] * 2
    pipe = loading.load_pipeline(str(tiny_dir / "sd"), "controlnet-img2img", controlnets=cn)
    out = pipe("a person", image=img, control_image=[img, img], num_inference_steps=2,
               strength=0.5, generator=torch.Generator().manual_seed(0), output_type="np").images
    assert out.shape == (1, 64, 64, 3)
    inpaint = loading.load_pipeline(str(tiny_dir / "inpaint"), "inpaint")
    out = inpaint("a person", image=img, mask_image=img, height=64, width=64, num_inference_steps=2,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    assert out.shape == (1, 64, 64, 3)
    img2img = loading.convert_pipeline(pipe, "img2img")
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"


@pytest.mark.parametrize("name, kind, message", [
    ("/no/such/folder", "sd", "does not exist"),
    ("./relative/missing", "sd", "does not exist"),
    ("controlnet", "sd", "no model_index.json (it looks like a ControlNet"),
    ("sd", "inpaint", "is not an inpainting model"),
    ("inpaint", "sd", "is an inpainting model"),
    ("sd", "warp", "pipeline kind 'warp' is not known"),
    ("sd", "controlnet", "needs at least one ControlNet"),
])
def test_load_errors_teach(tiny_dir, name, kind, message):
    path = name if name.startswith(("/", ".")) else str(tiny_dir / name)
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        loading.load_pipeline(path, kind)


def test_controlnet_folder_checks(tiny_dir, tmp_path):
    with pytest.raises(UsageError, match="looks like a whole pipeline"):
        loading.load_controlnet(str(tiny_dir / "sd"))
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(UsageError, match="is a file"):
        loading.load_controlnet(str(tmp_path / "weights.safetensors"))
    net = loading.load_controlnet(str(tiny_dir / "idf"))
    assert loading.is_latent_controlnet_config(net.config)


def test_device_and_dtype_rules():
    import torch

    assert loading.resolve_dtype("auto", "cpu") == torch.float32
    assert loading.resolve_dtype("auto", "cuda") == torch.float16
    with pytest.raises(UsageError, match="float16 on the CPU"):
        loading.resolve_dtype("float16", "cpu")
    with pytest.raises(UsageError, match="dtype 'half' is not known"):
        loading.resolve_dtype("half", "cpu")
    with pytest.raises(UsageError, match="device 'tpu' is not known"):
        loading.resolve_device("tpu")
    if not torch.cuda.is_available():
        assert loading.resolve_device("auto") == "cpu"
        with pytest.raises(UsageError, match="no CUDA GPU"):
            loading.resolve_device("cuda")


def test_hub_ids_and_paths_are_told_apart(tmp_path):
    assert loading.resolve_source("org/model") == loading.Source("org/model", False)
    assert loading.resolve_source(str(tmp_path)).local
    with pytest.raises(UsageError, match="hub id"):
        loading.resolve_source("")


def test_shared_models_load_once():
    calls = []

    class Thing:
        pass

    shared = loading.SharedModels()
    first = shared.get(("k",), lambda: calls.append(1) or Thing())
    assert shared.get(("k",), lambda: calls.append(1) or Thing()) is first
    assert len(calls) == 1
