"""Tiny components for the CAMOUFLaGE-Light tests: a random SD folder (the shared
``understudy.diffusion.tiny``), a random CLIP vision encoder folder and a synthetic face
dataset in CelebA's file formats. Nothing is downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

# Test folders have no __init__.py; make this folder's helper module importable by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lightkit import save_tiny_encoder, write_face_dataset  # noqa: E402



@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    from understudy.diffusion.tiny import save_tiny_pipeline

    return save_tiny_pipeline("sd", tmp_path_factory.mktemp("light_sd") / "sd")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("light_enc") / "encoder")


@pytest.fixture(scope="session")
def face_data(tmp_path_factory) -> Path:
    return write_face_dataset(tmp_path_factory.mktemp("light_data") / "faces")
