"""Models shared by the perception tests: loading them once keeps the suite fast."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def people_perceiver(tmp_path_factory):
    from understudy.perception.perceiver import PerceptionOptions, build_perceiver

    cache = tmp_path_factory.mktemp("models")
    return build_perceiver(PerceptionOptions(target="people", cache_dir=None)), cache


@pytest.fixture(scope="session")
def perceiver(people_perceiver):
    return people_perceiver[0]


@pytest.fixture(scope="session")
def street_frame():
    """``street_frame(i)``: frame ``i`` of opencv-doc's vtest.avi (RGB), or the test skips."""
    from people_set import PhotosUnavailable, _video_frames, opencv_doc_dir

    def frame(index: int):
        try:
            return _video_frames(opencv_doc_dir() / "vtest.avi", {index})[index]
        except PhotosUnavailable as exc:
            pytest.skip(str(exc))

    return frame
