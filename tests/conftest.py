"""Shared test settings: slow tests run only with RUN_SLOW=1 (diffusers' convention)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RUN_SLOW", "").lower() in ("1", "yes", "true"):
        return
    skip = pytest.mark.skip(reason="slow: set RUN_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def astronaut():
    """The bundled public-domain astronaut photo, (512, 512, 3) uint8 RGB."""
    import numpy as np
    from PIL import Image

    from understudy.samples import SAMPLES_DIR

    return np.asarray(Image.open(SAMPLES_DIR / "astronaut.jpg").convert("RGB"))


@pytest.fixture(scope="session")
def astronaut_face_box():
    """CenterFace's box for the astronaut's face (measured), for tests that must not depend
    on the detector."""
    import numpy as np

    return np.array([181.5, 58.2, 269.9, 177.8], np.float32)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """Tiny random SD folders (sd, inpaint, controlnet, idf), written once per session and
    loaded through the real loading code."""
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
