"""Tiny random SD folders written once per session and loaded through the real loading code."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from understudy.diffusion.tiny import KINDS, save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny_sd")
    for kind in KINDS:
        save_tiny_pipeline(kind, root / kind, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_pipe(tiny_dir):
    from understudy.diffusion.loading import load_pipeline

    return load_pipeline(str(tiny_dir / "sd"), "sd", device="cpu")


@pytest.fixture(scope="session")
def small_image():
    """The astronaut (public domain) at 128 px, (128, 128, 3) uint8."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
