"""Fixtures for the rating tests: a small study from synthetic images, a live server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from understudy.rating import StudyOptions, create_app, create_study
from understudy.rating.study import parse_anonymized

METHODS = ("blur", "refsd")


def make_images(root: Path, n: int = 4, seed: int = 0) -> Path:
    """Originals and two 'methods'; a method's PNG carries its name in a text chunk, which
    the study must not pass on to annotators."""
    from PIL import PngImagePlugin

    rng = np.random.default_rng(seed)
    for folder in ("orig",) + METHODS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", f"understudy {folder}")
            img = rng.integers(0, 255, (60, 40, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / folder / f"person{i}.png", pnginfo=info)
    (root / "attrs.csv").write_text("image,age,gender,emotion\n"
                                    "person0.png,elderly,female,happy\n"
                                    "person1.png,young,,\n"
                                    "person2,,male,sad\n", encoding="utf-8")
    return root


def build_study(tmp_path: Path, name: str = "s1", **options) -> "object":
    root = make_images(tmp_path / "data")
    anonymized = parse_anonymized([f"{m}={root / m}" for m in METHODS])
    opts = StudyOptions(**{"annotators": 3, "attention_checks": 2, **options})
    return create_study(name, root / "orig", anonymized, root / "attrs.csv", opts,
                        studies_dir=tmp_path / "studies")


@pytest.fixture
def make_study(tmp_path):
    """Factory: ``make_study(name="s2", items_per_annotator=3)``."""
    return lambda name="s1", **options: build_study(tmp_path, name, **options)


@pytest.fixture
def study(make_study):
    return make_study()


@pytest.fixture
def client(study):
    from fastapi.testclient import TestClient

    with TestClient(create_app(study), follow_redirects=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(study):
    """A real uvicorn server on 127.0.0.1 in a thread; yields (base_url, store)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(study), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", study
    finally:
        server.should_exit = True
        thread.join(timeout=10)
