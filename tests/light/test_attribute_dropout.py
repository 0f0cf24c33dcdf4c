"""Training thins attributes to unknown, so unknown is a state the adapters know (issue 15,
item 3): at inference only the measured keys (Male, Young, Smiling) are usually known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from understudy.diffusion.adapters.celeba import NUM_ATTRIBUTES
from understudy.errors import UsageError
from understudy.train.light import drop_attributes
from understudy.train.light_config import LightTrainConfig


def labelled_maps(b=64, size=8):
    """Maps whose 40 attribute channels all hold +1/-1 (a fully labelled CelebA face)."""
    g = torch.Generator().manual_seed(1)
    attrs = torch.where(torch.rand(b, NUM_ATTRIBUTES, generator=g) < 0.5, -1.0, 1.0)
    cond = torch.ones(b, NUM_ATTRIBUTES + 6, size, size)
    cond[:, :NUM_ATTRIBUTES] = attrs[:, :, None, None]
    return cond


def test_dropout_thins_attributes_and_keeps_keypoints_and_occupancy():
    cond = labelled_maps()
    assert torch.equal(drop_attributes(cond, 0.0, torch.Generator().manual_seed(0)), cond)
    out = drop_attributes(cond, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, NUM_ATTRIBUTES:], cond[:, NUM_ATTRIBUTES:])
    # A dropped attribute is unknown (0) over the whole map; a kept one is unchanged.
    per_channel = out[:, :NUM_ATTRIBUTES].abs().amax(dim=(2, 3))
    assert set(per_channel.unique().tolist()) <= {0.0, 1.0}
    known = per_channel.sum(dim=1)
    # Keep rates drawn from U(0, 1): samples range from nearly all unknown to nearly all known,
    # and about half the attributes go overall (64 x 40 draws).
    assert known.min() <= 8 and known.max() >= 32
    assert 0.35 < float(known.sum()) / (64 * NUM_ATTRIBUTES) < 0.65
    again = drop_attributes(cond, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded
    half = drop_attributes(cond, 0.5, torch.Generator().manual_seed(0))
    untouched = (half == cond).flatten(1).all(dim=1)
    assert 16 < int(untouched.sum()) < 48  # about half the samples are thinned


def test_trainer_prepares_thinned_maps(tiny_sd, tiny_encoder, face_data, tmp_path):
    from test_train import config, frozen_parts
    from understudy.train.light import LightTrainer
    from understudy.train.light_data import LightDataset

    dataset = LightDataset(face_data, 64)
    samples = [dataset[i] for i in range(len(dataset))]
    labelled = np.stack([s.condition for s in samples])[:, :NUM_ATTRIBUTES]
    trainer = LightTrainer(config(tiny_sd, tiny_encoder, face_data, tmp_path / "run",
                                  attribute_dropout=1.0),
                           frozen_parts(tiny_sd, tiny_encoder), dataset)
    thinned = trainer.prepare(samples)["cond"][:, :NUM_ATTRIBUTES].numpy()
    assert np.count_nonzero(thinned) < np.count_nonzero(labelled)
    kept = trainer.prepare(samples, drop=False)["cond"][:, :NUM_ATTRIBUTES].numpy()
    np.testing.assert_array_equal(kept, labelled)  # validation sees the labels as they are


def test_attribute_dropout_is_validated():
    with pytest.raises(UsageError, match="attribute_dropout must be in"):
        LightTrainConfig(attribute_dropout=1.5)
