"""A video's audit row counts each track's flicker: switches between a stand-in and a mask."""

from __future__ import annotations

import numpy as np

from understudy.run.local import VideoTally
from understudy.scene import Outcome, RegionResult, Result

BOX = np.array([0, 0, 10, 20], np.float32)


def result(*regions: tuple[int, Outcome]) -> Result:
    return Result(np.zeros((4, 4, 3), np.uint8),
                  [RegionResult("person", BOX, 0.9, outcome, track_id=track)
                   for track, outcome in regions])


def test_alternations_and_missed_frames_per_track():
    r, m = Outcome.REPLACED, Outcome.MASKED
    tally = VideoTally()
    # track 1: r r m r . r (a switch each way, one frame without a region, then back)
    # track 2: m m m m m m (steadily masked: no flicker)
    for index, outcome in enumerate([r, r, m, r, None, r]):
        regions = [(2, m)] + ([(1, outcome)] if outcome is not None else [])
        tally.add(result(*regions), index)
    fields = tally.fields()
    tracks = {t["track_id"]: t for t in fields["tracks"]}
    assert tracks[1]["alternations"] == 2 and tracks[1]["missed"] == 1
    assert tracks[1]["outcomes"] == {"replaced": 4, "masked": 1}
    assert tracks[2]["alternations"] == 0 and tracks[2]["missed"] == 0
    assert fields["alternations"] == 2 and tally.frames == 6
    assert fields["counts"] == {"person:masked": 7, "person:replaced": 4}


def test_mask_out_does_not_flicker_between_its_fill_and_the_fail_closed_fill():
    r, m = Outcome.REPLACED, Outcome.MASKED
    tally = VideoTally(fill_replaces=True)
    for index, outcome in enumerate([r, m, r, m]):
        tally.add(result((1, outcome)), index)
    assert tally.fields()["alternations"] == 0
