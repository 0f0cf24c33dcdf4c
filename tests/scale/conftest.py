"""Fixtures of the scale tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance with 2 CPUs for a whole test module (~6 s to start)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()
