import pytest


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory):
    """A tiny random BLIP saved to a folder (loaded back through the real Captioner path)."""
    from understudy.diffusion.tiny_captioner import save_tiny_captioner

    return save_tiny_captioner(tmp_path_factory.mktemp("captioner") / "blip")
