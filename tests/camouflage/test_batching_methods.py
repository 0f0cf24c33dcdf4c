"""CAMOUFLaGE-Base and Mask-SD with ``batch_size``: a person's stand-in does not depend on
the batch it ran in, out-of-memory shrinks the batch, and a batch that still fails at the
minimum size fails its people (which the guard masks), never the run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from understudy.run.guard import run_guarded
from understudy.methods.registry import load_method
from understudy.diffusion.batching import AdaptiveBatcher, BatchingOptions, Failed
from understudy.methods.registry import accepts_batch_size
from understudy.scene import Frame, Outcome, Person, Scene
from unet_spy import spy_unet

# Batched CPU kernels (conv, matmul) may sum in another order than single ones: a pixel may
# round to the next uint8 value: measured at most 1 level on 4-8 pixels of a 128 px image
# (tiny models, 64 and 256 px working crops).
TOLERANCE = 1


def people_scene(image, boxes, seed=3):
    h, w = image.shape[:2]
    people = []
    for x0, y0, x1, y1 in boxes:
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = True
        kp = np.zeros((33, 3), np.float32)
        cx = (x0 + x1) / 2
        for i, (x, y) in {0: (cx, y0 + 8), 11: (x1 - 4, y0 + 20), 12: (x0 + 4, y0 + 20),
                          23: (x1 - 6, y1 - 20), 24: (x0 + 6, y1 - 20)}.items():
            kp[i] = (x, y, 0.9)
        people.append(Person(np.array([x0, y0, x1, y1], np.float32), 0.9, mask=mask,
                             keypoints2d=kp))
    return Scene(Frame(image, source="three.png"), people=people, target="people", seed=seed)


THREE = [(8, 30, 38, 100), (49, 30, 79, 100), (90, 30, 120, 100)]  # same working size


@pytest.fixture(scope="module")
def camo_options(tiny_dir):
    return dict(model=str(tiny_dir / "sd"), controlnets=f"pose={tiny_dir / 'controlnet'}",
                negative_controlnet=str(tiny_dir / "idf"), anonymization_scale=1.5, steps=3,
                resolution=64, guidance_scale=3.0, attributes="random")


@pytest.fixture(scope="module")
def masksd_options(tiny_dir):
    return dict(model=str(tiny_dir / "inpaint"), steps=3, resolution=64, attributes="random")


def assert_same_people(a, b):
    assert [r.outcome for r in a.regions] == [r.outcome for r in b.regions]
    assert [r.attributes for r in a.regions] == [r.attributes for r in b.regions]
    diff = np.abs(a.image.astype(int) - b.image.astype(int))
    assert diff.max() <= TOLERANCE, f"batched result differs by up to {diff.max()} levels"


def replaced_everyone(result, scene, original):
    assert [r.outcome for r in result.regions] == [Outcome.REPLACED] * len(scene.regions())
    for region in scene.regions():
        assert np.abs(result.image[region.mask].astype(int) - original[region.mask]).mean() > 5


@pytest.mark.parametrize("name", ["camouflage", "masksd"])
def test_batch_size_is_an_option_the_cli_fills(name):
    assert accepts_batch_size(name)
    assert load_method(name, batch_size=4).options.batch_size == 4
    from understudy.errors import UsageError

    with pytest.raises(UsageError, match="batch_size=0 is not allowed"):
        load_method(name, batch_size=0)


def test_camouflage_batched_equals_one_by_one(camo_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    one = load_method("camouflage", **camo_options, batch_size=1)
    ref = one.anonymize(scene, np.random.default_rng(0))
    replaced_everyone(ref, scene, small_image)
    batched = load_method("camouflage", **camo_options, batch_size=4)
    rows = spy_unet(monkeypatch, batched.models()["pipe"].unet)
    out = batched.anonymize(scene, np.random.default_rng(0))
    assert_same_people(out, ref)
    # three people in one pass: 6 rows (CFG) for the positive branch, 3 for the negative
    assert sorted(set(rows)) == [3, 6]


def test_camouflage_buckets_by_working_size(camo_options, small_image, monkeypatch):
    """A taller person has another working size: it runs in its own batch, and each
    person still gets what it gets alone."""
    options = {**camo_options, "resolution": 96, "anonymization_scale": 1.0}
    boxes = [THREE[0], THREE[1], (82, 40, 124, 90)]
    scene = people_scene(small_image, boxes)
    ref = load_method("camouflage", **options).anonymize(scene, np.random.default_rng(0))
    batched = load_method("camouflage", **options, batch_size=3)
    sizes: list[int] = []
    sample = batched.models()["sampler"].sample
    monkeypatch.setattr(batched.models()["sampler"], "sample",
                        lambda images, *a, **k: sizes.append(len(images)) or
                        sample(images, *a, **k))
    out = batched.anonymize(scene, np.random.default_rng(0))
    assert sizes == [2, 1]
    assert_same_people(out, ref)


def test_camouflage_sweep_batched(camo_options, small_image):
    scene = people_scene(small_image, THREE)
    options = {**camo_options, "anonymization_scale": [0, 2]}
    ref = load_method("camouflage", **options).anonymize_sweep(scene, np.random.default_rng(0))
    out = load_method("camouflage", **options, batch_size=3).anonymize_sweep(
        scene, np.random.default_rng(0))
    for (sa, a), (sb, b) in zip(out, ref):
        assert sa == sb
        assert_same_people(a, b)


def test_camouflage_oom_shrinks_and_replaces_everyone(camo_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    ref = load_method("camouflage", **camo_options).anonymize(scene, np.random.default_rng(0))
    method = load_method("camouflage", **camo_options, batch_size=4)
    method.batcher.on_oom = lambda: None
    rows = spy_unet(monkeypatch, method.models()["pipe"].unet, capacity_rows=2)  # one person
    out = method.anonymize(scene, np.random.default_rng(0))
    assert method.batcher.history == [("shrink", 2), ("shrink", 1)]
    assert rows[0] == 6 and max(rows[-4:]) <= 2
    replaced_everyone(out, scene, small_image)
    assert_same_people(out, ref)
    rows.clear()
    method.anonymize(scene, np.random.default_rng(0))  # the smaller size is remembered
    assert max(rows) <= 2 and method.batcher.history == [("shrink", 2), ("shrink", 1)]


def test_camouflage_oom_at_minimum_fails_people_closed(camo_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    method = load_method("camouflage", **camo_options, batch_size=2)
    method.batcher.on_oom = lambda: None
    spy_unet(monkeypatch, method.models()["pipe"].unet, capacity_rows=0)  # nothing fits
    raw = method.anonymize(scene, np.random.default_rng(0))
    assert [r.outcome for r in raw.regions] == [Outcome.FAILED] * 3
    assert all("OutOfMemoryError" in r.reason for r in raw.regions)
    guarded = run_guarded(method, scene, np.random.default_rng(0))
    assert [r.outcome for r in guarded.regions] == [Outcome.MASKED] * 3
    for region in scene.regions():  # filled solid: no pixel of the person is left
        assert len(np.unique(guarded.image[region.mask].reshape(-1, 3), axis=0)) == 1


def test_masksd_batched_equals_one_by_one(masksd_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    ref = load_method("masksd", **masksd_options).anonymize(scene, np.random.default_rng(0))
    replaced_everyone(ref, scene, small_image)
    batched = load_method("masksd", **masksd_options, batch_size=3)
    rows = spy_unet(monkeypatch, batched.pipeline().unet)
    out = batched.anonymize(scene, np.random.default_rng(0))
    assert set(rows) == {6}  # three people, CFG: one call per step
    assert_same_people(out, ref)


def test_masksd_oom_shrinks_and_replaces_everyone(masksd_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    ref = load_method("masksd", **masksd_options).anonymize(scene, np.random.default_rng(0))
    method = load_method("masksd", **masksd_options, batch_size=3)
    method.batcher.on_oom = lambda: None
    spy_unet(monkeypatch, method.pipeline().unet, capacity_rows=2)
    out = method.anonymize(scene, np.random.default_rng(0))
    assert method.batcher.history == [("shrink", 1)]
    replaced_everyone(out, scene, small_image)
    assert_same_people(out, ref)


def test_masksd_oom_at_minimum_fails_people_closed(masksd_options, small_image, monkeypatch):
    scene = people_scene(small_image, THREE)
    method = load_method("masksd", **masksd_options, batch_size=3)
    method.batcher.on_oom = lambda: None
    spy_unet(monkeypatch, method.pipeline().unet, capacity_rows=0)
    guarded = run_guarded(method, scene, np.random.default_rng(0))
    assert [r.outcome for r in guarded.regions] == [Outcome.MASKED] * 3
    assert all("OutOfMemoryError" in r.reason for r in guarded.regions)


def test_batcher_returns_failures_per_item():
    """``errors="return"``: a non-memory error in a batch is isolated to its item by
    retrying the batch's items one by one; memory errors at the minimum fail the batch."""
    def picky(batch):
        if 3 in batch:
            raise ValueError("item 3 is broken")
        return [x * 10 for x in batch]

    batcher = AdaptiveBatcher(BatchingOptions(batch_size=4), on_oom=lambda: None)
    out = batcher.map(picky, list(range(6)), errors="return")
    assert out[:3] == [0, 10, 20] and out[4:] == [40, 50]
    assert isinstance(out[3], Failed) and out[3].reason == "ValueError: item 3 is broken"
    assert batcher.size == 4  # not a memory problem: the size stays

    def full(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    out = batcher.map(full, [1, 2, 3], errors="return")
    assert all(isinstance(r, Failed) for r in out) and batcher.size == 1
    with pytest.raises(ValueError, match="errors must be"):
        batcher.map(full, [1], errors="ignore")
