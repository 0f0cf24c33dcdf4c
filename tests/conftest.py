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
