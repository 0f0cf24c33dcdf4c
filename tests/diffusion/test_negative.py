"""CAMOUFLaGE's sampler: the a_s combination, multi-ControlNet, negative control, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.diffusion.negative import (CamouflageSampler, IdentityControl, PositiveControl,
                                           combine)


class PerfectIdentity:
    """What a fully trained IDF ControlNet converges to: the noise that leads DDIM back to
    the original latent z0, eps = (z_t - sqrt(abar_t) z0) / sqrt(1 - abar_t)."""

    def __init__(self, scheduler):
        self.alphas = scheduler.alphas_cumprod

    def predict(self, unet, latents, t, text, original_latent, original_pixels):
        a = self.alphas[int(t)]
        return (latents - a.sqrt() * original_latent) / (1 - a).sqrt()


@pytest.fixture(scope="module")
def sampler(tiny_pipe):
    return CamouflageSampler.from_pipeline(tiny_pipe)


@pytest.fixture(scope="module")
def nets(tiny_dir):
    from understudy.diffusion.loading import load_controlnet

    return load_controlnet(str(tiny_dir / "controlnet")), load_controlnet(str(tiny_dir / "idf"))


def test_combine_is_cfg_style():
    import torch

    pos, neg = torch.tensor([3.0]), torch.tensor([1.0])
    assert float(combine(pos, neg, 0)) == 1.0  # the negative control alone
    assert float(combine(pos, neg, 1)) == 3.0  # the positive control alone
    assert float(combine(pos, neg, 2)) == 5.0  # past the positive, away from the negative


def run(sampler, image, positive, negative, a_s, seed=0, steps=6, output_type="np", prompt="a person"):
    import torch

    return sampler(image, prompt, positive, negative, steps=steps, strength=0.8,
                   guidance_scale=3.0, anonymization_scale=a_s,
                   generator=torch.Generator().manual_seed(seed), output_type=output_type)


def test_distance_to_original_grows_with_anonymization_scale(sampler, nets, small_image):
    """The issue's a_s semantics at a fixed seed: 0 reproduces the original (up to the VAE),
    and the output moves further from it at 1 and further still at 2."""
    positive = [PositiveControl("canny", nets[0], small_image)]
    negative = PerfectIdentity(sampler.scheduler)
    z0 = sampler.encode_image(small_image)
    reference = sampler.decode(z0).astype(float)  # the best a latent method can reproduce
    lat = {a: float((run(sampler, small_image, positive, negative, a, output_type="latent")
                     - z0).abs().mean()) for a in (0, 1, 2)}
    pix = {a: np.abs(run(sampler, small_image, positive, negative, a) - reference).mean()
           for a in (0, 1, 2)}
    # In latent space, where the sampler works: 0 < 1 < 2. (a_s = 0 leaves SD's last-step
    # noise, sqrt(1 - abar_0) ~ 0.03, nothing more.)
    assert lat[0] < 0.05 * lat[1] and lat[1] < lat[2]
    # In pixels the tiny random VAE decoder saturates, so only a_s = 0 being the closest to
    # the reconstruction is meaningful there; with real weights docs/camouflage.md's sweep.
    assert pix[0] < min(pix[1], pix[2])


def test_identity_controlnet_branch_runs_and_matters(sampler, nets, small_image):
    positive = [PositiveControl("canny", nets[0], small_image)]
    idf = IdentityControl(nets[1])
    assert idf.latent_conditioned
    one = run(sampler, small_image, positive, idf, 1.0)
    two = run(sampler, small_image, positive, idf, 2.0)
    zero = run(sampler, small_image, positive, idf, 0.0)
    assert one.shape == small_image.shape and one.dtype == np.uint8
    assert np.abs(one.astype(int) - two).mean() > 0.5 and np.abs(one.astype(int) - zero).mean() > 0.5
    # a pixel ControlNet (a tile ControlNet stand-in) reads the original's pixels instead
    tile = IdentityControl(nets[0])
    assert not tile.latent_conditioned
    assert run(sampler, small_image, positive, tile, 2.0).shape == small_image.shape


def test_multi_controlnet_each_map_steers(sampler, nets, small_image):
    blank = np.zeros_like(small_image)

    def latent(positive):
        return run(sampler, small_image, positive, None, 1.0, output_type="latent")

    one = latent([PositiveControl("canny", nets[0], small_image)])
    other_map = latent([PositiveControl("canny", nets[0], blank)])
    two = latent([PositiveControl("canny", nets[0], small_image),
                  PositiveControl("pose", nets[0], blank, 0.5)])
    off = latent([PositiveControl("canny", nets[0], small_image, 0.0)])
    none = latent([])
    assert float((one - other_map).abs().mean()) > 0.01
    assert float((one - two).abs().mean()) > 0.01
    assert float((off - none).abs().max()) == 0.0  # weight 0 is no control at all


def test_same_seed_same_image(sampler, nets, small_image):
    positive = [PositiveControl("canny", nets[0], small_image)]
    idf = IdentityControl(nets[1])
    a = run(sampler, small_image, positive, idf, 1.5, seed=3)
    b = run(sampler, small_image, positive, idf, 1.5, seed=3)
    c = run(sampler, small_image, positive, idf, 1.5, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 0.1


def test_negative_is_required_off_scale_one(sampler, small_image):
    with pytest.raises(ValueError, match="negative control"):
        run(sampler, small_image, [], None, 2.0)
