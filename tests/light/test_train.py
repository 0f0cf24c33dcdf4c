"""Training CAMOUFLaGE-Light's adapters with tiny random components: the loss goes down,
checkpoints resume, presets load, and the CLI runs the whole thing."""

from __future__ import annotations

import json

import pytest

from understudy.errors import UsageError
from understudy.diffusion.adapters.networks import LightAdapters
from understudy.train.light_config import LightTrainConfig, load_config, preset_names
from understudy.train.light_data import LightDataset
from understudy.train.light import Frozen, LightTrainer, checkpoints


def frozen_parts(sd, encoder):
    from diffusers import DDPMScheduler

    from understudy.diffusion.loading import load_pipeline
    from understudy.diffusion.adapters.encoders import load_image_encoder

    pipe = load_pipeline(str(sd), "sd", device="cpu")
    return Frozen(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer,
                  DDPMScheduler.from_config(pipe.scheduler.config), load_image_encoder(str(encoder)))


def config(sd, encoder, data, output, **kw):
    values = dict(model=str(sd), image_encoder=str(encoder), data=str(data), output=str(output),
                  resolution=64, batch_size=3, steps=12, learning_rate=2e-3, checkpoint_every=6,
                  keep_checkpoints=1, device="cpu", caption_dropout=0.0, embedding_dropout=0.0)
    values.update(kw)
    return load_config("small", **values)


def test_training_lowers_the_loss_and_writes_loadable_adapters(tiny_sd, tiny_encoder, face_data,
                                                              tmp_path):
    out = tmp_path / "run"
    dataset = LightDataset(face_data, 64)
    assert len(dataset) == 6 and not dataset.skipped
    trainer = LightTrainer(config(tiny_sd, tiny_encoder, face_data, out),
                           frozen_parts(tiny_sd, tiny_encoder), dataset)
    val = [dataset[i] for i in range(len(dataset))]
    # Only the adapters learn: SD and the encoder are frozen.
    trainable = {id(p) for p in trainer.adapters.parameters()}
    unet_trainable = [n for n, p in trainer.frozen.unet.named_parameters()
                      if p.requires_grad and id(p) not in trainable]
    assert unet_trainable == []
    before = trainer.validation_loss(val)
    unet_before = {n: p.detach().clone() for n, p in trainer.frozen.unet.named_parameters()
                   if id(p) not in trainable}
    trainer.run()
    after = trainer.validation_loss(val)
    assert after < before * 0.97, (before, after)
    for n, p in trainer.frozen.unet.named_parameters():
        if n in unet_before:
            assert p.equal(unet_before[n]), f"frozen UNet weight {n} changed"
    # Final adapters + one kept checkpoint; both load into a fresh UNet.
    assert (out / "ip_adapter.safetensors").is_file() and (out / "t2i_adapter").is_dir()
    assert json.loads((out / "light.json").read_text())["steps_trained"] == 12
    assert [p.name for p in checkpoints(out)] == ["step-000012"]
    from understudy.diffusion.tiny import tiny_unet

    loaded = LightAdapters.load(out, tiny_unet())
    for a, b in zip(loaded.parameters(), trainer.adapters.parameters()):
        assert a.detach().equal(b.detach().to(a.dtype))


def test_resume_continues_from_the_newest_checkpoint(tiny_sd, tiny_encoder, face_data, tmp_path):
    out = tmp_path / "run"
    dataset = LightDataset(face_data, 64)
    first = LightTrainer(config(tiny_sd, tiny_encoder, face_data, out, steps=4, checkpoint_every=2,
                                keep_checkpoints=2), frozen_parts(tiny_sd, tiny_encoder), dataset)
    first.run()
    assert [p.name for p in checkpoints(out)] == ["step-000002", "step-000004"]
    seen = []
    second = LightTrainer(config(tiny_sd, tiny_encoder, face_data, out, steps=6, checkpoint_every=2,
                                 keep_checkpoints=2), frozen_parts(tiny_sd, tiny_encoder), dataset,
                          progress=lambda r: seen.append(r.step))
    assert second.step == 4
    # The resumed adapters are the checkpoint's, not fresh ones.
    for a, b in zip(second.adapters.parameters(), first.adapters.parameters()):
        assert a.detach().equal(b.detach())
    second.run()
    assert seen == [5, 6]
    assert [p.name for p in checkpoints(out)] == ["step-000004", "step-000006"]


def test_presets_load_and_options_are_validated():
    names = preset_names()
    assert {"sd15", "small"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert isinstance(cfg, LightTrainConfig)
        with pytest.raises(UsageError, match="--model"):
            cfg.require_paths()
    with pytest.raises(UsageError, match="multiple of 64"):
        LightTrainConfig(resolution=100)
    with pytest.raises(UsageError, match="timestep_sampling"):
        LightTrainConfig(timestep_sampling="random")
    with pytest.raises(UsageError, match="no option"):
        load_config("small", wings=3)
    with pytest.raises(UsageError, match="available"):
        load_config("nope")


def test_cli_trains_end_to_end(tiny_sd, tiny_encoder, face_data, tmp_path,
                                                    capsys):
    from understudy.cli import main

    out = tmp_path / "cli"
    code = main(["train", "camouflage-light", "--preset", "small", "--model", str(tiny_sd),
                 "--image-encoder", str(tiny_encoder), "--data", str(face_data), "-o", str(out),
                 "--resolution", "64", "--steps", "2", "--batch-size", "2", "--log-every", "1",
                 "--device", "cpu"])
    assert code == 0
    err = capsys.readouterr().err
    assert "step 2/2" in err and "done" in err
    assert (out / "light.json").is_file()
    assert main(["train", "camouflage-light", "--resolution", "64"]) == 2  # no --model
