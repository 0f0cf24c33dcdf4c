"""The captioner: a tiny random BLIP saved to a folder and loaded back through the real
``image-text-to-text`` path; captions differ between images; bad sources teach."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.diffusion.captioning import PREFIX, Captioner
from understudy.errors import UsageError


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory):
    from understudy.diffusion.tiny_captioner import save_tiny_captioner

    return save_tiny_captioner(tmp_path_factory.mktemp("captioner") / "blip")


def test_tiny_blip_captions_each_image(tiny_captioner):
    captioner = Captioner(str(tiny_captioner), offline=True, max_new_tokens=12)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(4)]
    captions = [captioner(image) for image in images]
    assert not captioner.chat  # BLIP has no chat template: prompted with the prefix
    assert all(c.startswith(PREFIX) and len(c) > len(PREFIX) for c in captions)
    assert len(set(captions)) > 1  # the caption depends on the pixels
    assert captioner(images[0]) == captions[0]  # greedy decoding: deterministic


def test_bad_captioner_sources_teach(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        Captioner(str(tmp_path / "missing" / "x"))(np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="could not be loaded as an image-text-to-text"):
        Captioner(str(tmp_path / "empty"), offline=True)(np.zeros((8, 8, 3), np.uint8))
