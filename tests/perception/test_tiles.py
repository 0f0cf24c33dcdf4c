"""Elongated frames are looked at in square tiles too (FusionOptions.tile_aspect).

Every detector squeezes the whole frame into a square input. On obama3 (1434x2333, a
portrait) the person beside the president, cut by the right edge (151 px wide), became a
31x114 px sliver there and no detector found them, so both maskout and RefSD left them
exactly as they were. On the lower square tile the COCO SSD finds them (0.62)."""

from __future__ import annotations

import numpy as np
import pytest

import photos
from understudy.errors import UsageError
from understudy.perception.fusion import DetectorSpec, FusedPeople, FusionOptions
from understudy.perception.zoom import unseen_people
from understudy.regions import box_iou, square_tiles
from understudy.scene import Person

TALL = (2333, 1434)  # obama3, height and width
NEIGHBOUR = (1283, 1120, 1434, 2010)  # labelled: cut by the right edge


def _p(box, score=0.9) -> Person:
    return Person(box=np.array(box, np.float32), score=score)


def test_square_tiles_overlap_by_a_third_along_the_longer_side():
    assert square_tiles(TALL) == [(0, 0, 1434, 1434), (0, 899, 1434, 2333)]
    assert square_tiles((576, 768)) == [(0, 0, 576, 576), (192, 0, 768, 576)]
    assert square_tiles((512, 512)) == [(0, 0, 512, 512)]
    for size in [(1200, 626), (432, 768), (2204, 970)]:
        tiles = square_tiles(size)
        long_side = max(size)
        side = min(size)
        starts = sorted(t[1] if size[0] > size[1] else t[0] for t in tiles)
        assert starts[0] == 0 and starts[-1] == long_side - side
        assert all(b - a <= side * 2 / 3 for a, b in zip(starts, starts[1:]))


def test_a_tile_adds_only_people_nobody_found_yet():
    tile = (0, 0, 1434, 1434)
    president = np.array([218, 223, 1233, 2333.0])  # the whole frame's box
    upper = _p((225, 198, 1219, 1429))  # a detector's box of his upper part, short of the cut
    chest = _p((803, 65, 1056, 466), 0.26)  # MoveNet's second skeleton on him
    neighbour = _p((1253, 1076, 1434, 1423), 0.3)  # at the frame's own edge
    assert unseen_people([upper, chest, neighbour], [president], tile, TALL) == [neighbour]
    # Somebody half on a known box is somebody else (a person behind another).
    behind = _p((0, 375, 330, 619))
    assert unseen_people([behind], [president], tile, TALL) == [behind]
    # Cut by the tile's border inside the frame: a neighbouring tile sees them whole.
    cut = _p((1300, 1200, 1434, 1433))
    assert unseen_people([cut], [], tile, TALL) == []
    bottom = (0, 899, 1434, 2333)
    assert unseen_people([_p((1300, 900, 1434, 2000))], [], bottom, TALL) == []
    assert len(unseen_people([_p((1300, 2000, 1434, 2333))], [], bottom, TALL)) == 1


def _two_looks(size):
    """A detector that sees the president whole on the frame, and on a tile his part and,
    on the lower tile, the neighbour."""
    calls = []

    def detector(image):
        calls.append(image.shape[:2])
        if image.shape[:2] == size:
            return [_p((218, 223, 1233, 2333))]
        if len(calls) == 2:  # the upper tile
            return [_p((225, 198, 1219, 1429))]
        return [_p((201, 0, 1233, 1433)), _p((1259, 172, 1431, 1177), 0.62)]

    return detector, calls


def test_an_elongated_frame_is_looked_at_in_tiles_and_keeps_what_they_find():
    detector, calls = _two_looks(TALL)
    fused = FusedPeople([DetectorSpec("a", detector)])
    out = fused(np.zeros(TALL + (3,), np.uint8))
    assert calls == [TALL, (1434, 1434), (1434, 1434)]
    assert fused.last_tiles == square_tiles(TALL)
    assert len(out) == 2
    assert max(box_iou(p.box, np.array(NEIGHBOUR)) for p in out) > 0.7
    assert "tile_aspect=1.5" in fused.model_id  # cached perception knows it tiled


def test_only_the_detectors_on_tiles_look_at_them():
    calls: dict[str, list] = {"a": [], "b": []}

    def detector(name):
        def detect(image):
            calls[name].append(image.shape[:2])
            return []
        return detect

    fused = FusedPeople([DetectorSpec("a", detector("a")),
                         DetectorSpec("b", detector("b"), on_tiles=False)], parallel=True)
    fused(np.zeros(TALL + (3,), np.uint8))
    assert calls == {"a": [TALL, (1434, 1434), (1434, 1434)], "b": [TALL]}
    assert "b=" in fused.model_id and "-tiles" in fused.model_id


def test_frames_nearly_square_and_tiles_off_are_looked_at_once():
    for size, options in [((576, 768), FusionOptions()), (TALL, FusionOptions(tile_aspect=0))]:
        calls = []

        def detector(image):
            calls.append(image.shape[:2])
            return []

        fused = FusedPeople([DetectorSpec("a", detector)], options)
        fused(np.zeros(size + (3,), np.uint8))
        assert calls == [size] and fused.last_tiles == []
    with pytest.raises(UsageError, match="tile_aspect"):
        FusionOptions(tile_aspect=1.05)


def test_the_neighbour_cut_by_the_edge_of_obama3_is_found(perceiver):
    """The real detectors, fused, on the real portrait: with tiles, and without."""
    from PIL import Image

    image = np.asarray(Image.open(photos.face_recognition_dir() / "obama3.jpg").convert("RGB"))
    fused = perceiver.people.detector
    assert image.shape[:2] == TALL

    def sure_on(box, people):
        return [p for p in people if p.score >= 0.5 and box_iou(p.box, np.array(box)) >= 0.5]

    aspect = fused.options.tile_aspect
    try:
        fused.options.tile_aspect = 0
        before = fused(image)
    finally:
        fused.options.tile_aspect = aspect
    after = fused(image)
    assert not sure_on(NEIGHBOUR, before)
    assert len(sure_on(NEIGHBOUR, after)) == 1
    assert len([p for p in after if p.score >= 0.5]) == 2  # the president stays one person


def test_video_frames_get_no_tiles_and_photos_keep_them(perceiver, street_frame):
    """On a 16:9 crop of vtest 500-529 the tiles boxed a traffic cone, and the tracker
    carried it into a stand-in on 6 frames: video frames are looked at whole."""
    from understudy.scene import Frame

    fused = perceiver.people.detector
    wide = [np.ascontiguousarray(street_frame(i)[100:532]) for i in (500, 501)]  # 768x432
    tiles = []
    for _ in perceiver.perceive_stream(Frame(im, "wide.mp4", i) for i, im in enumerate(wide)):
        tiles.append(fused.last_tiles)
    assert tiles == [[], []]
    perceiver.perceive(Frame(wide[0], "wide.png"))
    assert fused.last_tiles == square_tiles((432, 768))
