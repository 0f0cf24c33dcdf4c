"""RefSD stage 3 with ``batch_size``: people whose crops do not overlap are refined in one
call, a person's result does not depend on the batch, out-of-memory shrinks the batch, and
a person that still fails is reported failed (the guard masks it), never the run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from understudy.run.guard import run_guarded
from understudy.methods.refsd import RefSD, RefSDOptions
from understudy.methods.refsd_refine import RefineJob, RefineOptions, Refiner, waves
from understudy.diffusion.batching import Failed
from understudy.methods.registry import accepts_batch_size
from understudy.scene import Outcome
from unet_spy import spy_unet

from .conftest import make_scene

# Batched CPU kernels may sum in another order than single ones: a pixel may round to the
# next uint8 value (measured: at most 1 level on a few pixels with the tiny models).
TOLERANCE = 1


def test_waves_keep_dependencies_and_disjoint_boxes():
    boxes = [(0, 0, 60, 100), (40, 0, 100, 100), (150, 0, 210, 100), None, (80, 0, 160, 100)]
    assert waves(boxes) == [[0, 2], [1], [4]]
    assert waves([]) == [] and waves([None]) == []


@pytest.fixture(scope="module")
def three_jobs(small_image):
    """A 128 x 256 image with three people: A and B overlap, C stands apart."""
    image = np.concatenate([small_image, small_image[:, ::-1]], axis=1)
    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    jobs = []
    for k, (x0, x1) in enumerate([(10, 50), (45, 85), (170, 210)]):
        allowed = np.zeros((h, w), bool)
        allowed[20:100, x0:x1] = True
        controls = {kind: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                    for kind in ("pose", "canny")}
        jobs.append(RefineJob(allowed, f"a photo of person {k}", "blurry", 100 + k, controls))
    return image, jobs


def refine_options(tiny_dir, kinds, batch_size):
    net = str(tiny_dir / "controlnet")
    return RefineOptions(str(tiny_dir / "sd"), pose_controlnet=net if "pose" in kinds else None,
                         canny_controlnet=net if "canny" in kinds else None, strength=0.75,
                         steps=4, resolution=64, device="cpu", batch_size=batch_size)


@pytest.mark.parametrize("kinds", [("pose", "canny"), ("pose",), ()],
                         ids=["two-controlnets", "one-controlnet", "img2img"])
def test_refine_many_equals_one_by_one(tiny_dir, three_jobs, kinds, monkeypatch):
    image, jobs = three_jobs
    one = Refiner(refine_options(tiny_dir, kinds, 1))
    expected = image
    for job in jobs:  # the unbatched order: each person from the image refined so far
        expected = one(expected, job.allowed, job.prompt, job.negative, job.seed, job.controls)
    batched = Refiner(refine_options(tiny_dir, kinds, 3), one.pipeline())
    rows = spy_unet(monkeypatch, one.pipeline().unet)
    out, failures = batched.refine_many(image, jobs)
    assert failures == [None, None, None]
    assert set(rows) == {4, 2}  # A and C together (CFG doubles the rows), then B
    diff = np.abs(out.astype(int) - expected.astype(int))
    assert diff.max() <= TOLERANCE, f"batched result differs by up to {diff.max()} levels"
    everyone = jobs[0].allowed | jobs[1].allowed | jobs[2].allowed
    np.testing.assert_array_equal(out[~everyone], image[~everyone])
    for job in jobs:
        assert np.abs(out[job.allowed].astype(int) - image[job.allowed]).mean() > 2


def test_refine_oom_shrinks_then_fails_closed(tiny_dir, three_jobs, monkeypatch):
    image, jobs = three_jobs
    reference, _ = Refiner(refine_options(tiny_dir, ("pose",), 1)).refine_many(image, jobs)
    refiner = Refiner(refine_options(tiny_dir, ("pose",), 4))
    refiner.batcher.on_oom = lambda: None
    spy_unet(monkeypatch, refiner.pipeline().unet, capacity_rows=2)  # one person fits
    out, failures = refiner.refine_many(image, jobs)
    assert failures == [None, None, None]
    assert refiner.batcher.history == [("shrink", 2), ("shrink", 1)]
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= TOLERANCE
    monkeypatch.undo()
    spy_unet(monkeypatch, refiner.pipeline().unet, capacity_rows=0)  # nothing fits
    out, failures = refiner.refine_many(image, jobs)
    assert all(isinstance(f, Failed) and "OutOfMemoryError" in f.reason for f in failures)
    np.testing.assert_array_equal(out, image)  # nothing half-refined
    with pytest.raises(torch.cuda.OutOfMemoryError):
        refiner(image, jobs[0].allowed, "p", "n", 0, jobs[0].controls)


@pytest.fixture(scope="module")
def three_people(astronaut, astronaut_person):
    """Three copies of the astronaut (192 px tall) side by side, with her landmarks."""
    import cv2

    from understudy.scene import Person

    s, tile = 0.375, 192
    small = cv2.resize(astronaut, (tile, tile), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(astronaut_person.mask.astype(np.uint8), (tile, tile),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    image = np.concatenate([small] * 3, axis=1)
    people = []
    for k in range(3):
        dx = k * tile
        full = np.zeros(image.shape[:2], bool)
        full[:, dx:dx + tile] = mask
        kp = astronaut_person.keypoints2d.copy()
        kp[:, 0] = kp[:, 0] * s + dx
        kp[:, 1] *= s
        box = astronaut_person.box * s + np.array([dx, 0, dx, 0], np.float32)
        people.append(Person(box, 0.9, mask=full, keypoints2d=kp,
                             keypoints3d=astronaut_person.keypoints3d))
    return make_scene(image, people, seed=5, source="three.jpg")


def test_refsd_three_people_batched(body, three_people, tiny_dir, monkeypatch):
    assert accepts_batch_size("refsd")

    def run(batch_size):
        options = RefSDOptions(model=str(tiny_dir / "sd"),
                               pose_controlnet=str(tiny_dir / "controlnet"), steps=2,
                               strength=0.6, resolution=64, fit_steps=5, device="cpu",
                               batch_size=batch_size)
        method = RefSD(options, body=body)
        try:
            return run_guarded(method, three_people, np.random.default_rng(0)), method
        finally:
            method.close()

    ref, _ = run(1)
    assert [r.outcome for r in ref.regions] == [Outcome.REPLACED] * 3, \
        [r.reason for r in ref.regions]
    out, method = run(3)
    assert [r.attributes for r in out.regions] == [r.attributes for r in ref.regions]
    assert np.abs(out.image.astype(int) - ref.image.astype(int)).max() <= TOLERANCE
    # every refinement runs out of memory: the people fail closed, the run goes on
    spy_unet(monkeypatch, method.refiner.pipeline().unet, capacity_rows=0)
    method.refiner.batcher.on_oom = lambda: None
    failed = run_guarded(method, three_people, np.random.default_rng(0))
    assert [r.outcome for r in failed.regions] == [Outcome.MASKED] * 3
    assert all("refine failed: OutOfMemoryError" in r.reason for r in failed.regions)
