"""`understudy train idf`: the loss goes down, checkpoints resume, the result loads."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture()
def photos(tmp_path, small_image):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(small_image, 20 * i, axis=1)).save(folder / f"{i}.png")
    return folder


def test_training_lowers_the_loss_and_resumes(tiny_dir, photos, tmp_path):
    from understudy.diffusion.loading import is_latent_controlnet_config, load_controlnet
    from understudy.train.idf import IDFTrainer, IDFTrainOptions

    out = tmp_path / "idf"
    opts = dict(model=str(tiny_dir / "sd"), data=str(photos), output=str(out), batch_size=2,
                learning_rate=2e-3, resolution=64, checkpoint_every=4, log_every=2, device="cpu")
    trainer = IDFTrainer(IDFTrainOptions(steps=8, **opts))
    before = trainer.validation_loss()
    logs = []
    trainer.train(logs.append)
    after = trainer.validation_loss()
    assert after < before * 0.97, (before, after)
    assert [r["step"] for r in logs] == [2, 4, 6, 8]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000004", "step-0000008"]
    # A second run with more steps continues from step 8, not from scratch.
    resumed = IDFTrainer(IDFTrainOptions(steps=10, **opts))
    assert resumed.step == 8 and len(resumed.losses) == 8
    resumed.train()
    state = json.loads((out / "checkpoints" / "step-0000010" / "state.json").read_text())
    assert state["step"] == 10
    net = load_controlnet(str(out))  # the final IDF loads through the real loading code
    assert is_latent_controlnet_config(net.config)


def test_cli_train_idf(tiny_dir, photos, tmp_path):
    from understudy.cli import main

    code = main(["train", "idf", "--model", str(tiny_dir / "sd"), "--data", str(photos),
                 "-o", str(tmp_path / "out"), "--steps", "2", "--batch-size", "1",
                 "--resolution", "64", "--quiet", "--device", "cpu"])
    assert code == 0 and (tmp_path / "out" / "config.json").is_file()
    assert main(["train", "idf", "--model", str(tiny_dir / "sd"), "--data",
                 str(tmp_path / "nothing"), "-o", str(tmp_path / "x")]) == 2
