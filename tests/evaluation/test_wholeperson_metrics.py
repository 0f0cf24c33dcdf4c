"""The whole-person measures of `understudy evaluate` (issue 14) on small, known inputs:
body re-ID with identities, the clothing-colour attacker, recall/coverage from the audit,
and the share of a person's pixels an output left as they were."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.evaluation.bodyreid import BodyEntry, body_reid
from understudy.evaluation.colour import ClothingColour, colour_histogram
from understudy.evaluation.coverage import (believe_pixels, core_ellipse, person_outcomes,
                                           summarize, visible_shares)
from understudy.evaluation.labels import read_labels
from understudy.scene import EMPTY_REGION


def _shirt(rgb: tuple[int, int, int], seed: int) -> np.ndarray:
    """A 120x60 'person': textured shirt colour over grey trousers, on a noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.integers(90, 140, (120, 60, 3)).astype(np.int16)
    img[10:60, 10:50] = np.array(rgb) + rng.integers(-12, 12, (50, 40, 3))
    img[60:115, 15:45] = 70 + rng.integers(-8, 8, (55, 30, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_colour_attacker_tells_shirts_apart_and_ignores_noise():
    red, red2, blue = _shirt((200, 30, 30), 0), _shirt((200, 30, 30), 1), _shirt((30, 40, 200), 2)
    box = [0, 0, 60, 120]
    h = [colour_histogram(x, box) for x in (red, red2, blue)]
    assert np.allclose([np.linalg.norm(v) for v in h], 1.0)
    assert h[0] @ h[1] > 0.95 > 0.75 > h[0] @ h[2]  # same colours, other noise: same person
    filled = red.copy()
    filled[5:118, 5:55] = 0  # mask-out's black fill
    assert colour_histogram(filled, box) @ h[0] < 0.6
    assert ClothingColour()(red, []).shape == (0, 288)


def _entries(identities: list[str], images: list[str], query_noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = {i: rng.normal(size=16) for i in set(identities)}
    out = []
    for k, (ident, image) in enumerate(zip(identities, images)):
        v = base[ident] + 0.2 * rng.normal(size=16)
        q = v + query_noise * rng.normal(size=16)
        out.append(BodyEntry(image, k, v / np.linalg.norm(v), q / np.linalg.norm(q), ident))
    return out


def test_body_reid_full_reference_and_market_style_gallery():
    ids = ["a", "a", "b", "b", "c", "d"]
    imgs = ["1.png", "2.png", "1.png", "3.png", "3.png", "4.png"]
    clear = body_reid(_entries(ids, imgs, 0.0), labelled=True)
    assert clear["R@1"] == 100.0 and clear["mAP"] == 100.0
    # Gallery protocol: c and d appear in one photo only, so 4 queries; each finds its twin.
    assert clear["gallery"]["queries"] == 4 and clear["gallery"]["skipped"] == 2
    assert clear["gallery"]["R@1"] == 100.0
    noisy = body_reid(_entries(ids, imgs, 5.0), labelled=True)
    assert noisy["R@1"] < 100.0 and noisy["pair_cosine_mean"] < clear["pair_cosine_mean"]
    assert "gallery" not in body_reid(_entries(ids, imgs, 0.0), labelled=False)
    assert body_reid([], labelled=True) == {"people": 0}


def test_outcomes_match_regions_one_to_one_and_count_shared_regions_as_covered():
    people = [[10, 10, 50, 110], [60, 10, 100, 110], [110, 10, 150, 110], [200, 10, 240, 110]]
    regions = [
        {"kind": "person", "box": [8, 8, 52, 112], "outcome": "replaced", "source": "residual",
         "attributes": {"silhouette_iou": 0.8, "fit_error_share": 0.015}},
        # one region over two people: the second is covered, not found
        {"kind": "person", "box": [58, 8, 140, 112], "outcome": "masked", "reason": "uncertain"},
        {"kind": "face", "box": [200, 10, 240, 50], "outcome": "replaced"},
    ]
    rows = person_outcomes(people, regions, 1.0, (120, 260))
    assert [r["outcome"] for r in rows] == ["replaced", "masked", "missed", "missed"]
    assert [r["covered"] for r in rows] == [True, True, True, False]
    assert rows[0]["source"] == "residual" and rows[1]["reason"] == "uncertain"
    for r, v in zip(rows, [0.0, 0.1, 0.2, 1.0]):
        r["visible"], r["tags"] = v, ["edge"]
    s = summarize(rows, has_audit=True)
    assert (s["found"], s["replaced"], s["masked"], s["missed"]) == (2, 1, 1, 1)
    assert s["recall"] == 50.0 and s["covered"] == 75.0 and s["left_visible"] == 1
    assert s["fit_iou_median"] == 0.8 and s["fit_error_share_median"] == pytest.approx(1.5)
    assert s["by_tag"]["edge"] == {"people": 4, "covered": 3, "replaced": 1}
    # audit boxes are in full-size pixels; the analysis image may be half as large
    half = person_outcomes([[5, 5, 25, 55]], [{"box": [10, 10, 50, 110], "outcome": "replaced"}],
                           0.5, (60, 130))
    assert half[0]["found"]


def test_a_handled_row_finds_a_person_before_a_skipped_duplicate_row():
    # vtest frame 600, mask-out: a weak box over a walker was folded into a surer box of the
    # same walker; its row is skipped with no pixels, and fits the label a little better.
    person = [[670, 209, 712, 297]]
    regions = [{"kind": "person", "box": [669, 208, 704, 296], "outcome": "skipped",
                "reason": "no pixels to change"},
               {"kind": "person", "box": [669, 199, 728, 297], "outcome": "replaced"}]
    row, = person_outcomes(person, regions, 1.0, (576, 768))
    assert row["found"] and row["outcome"] == "replaced"
    # With no handled row near them, the skipped one still says what happened.
    row, = person_outcomes(person, regions[:1], 1.0, (576, 768))
    assert not row["found"] and row["outcome"] == "skipped"


def test_a_person_folded_into_a_handled_region_is_found_but_counted_apart():
    # obama3, mask-out: the neighbour cut by the right edge was found without a mask, and
    # their box joined the president's region, which was filled over them.
    person = [[1283, 1120, 1434, 2010]]
    folded = {"kind": "person", "box": [1134, 1050, 1432, 2082], "outcome": "skipped",
              "reason": EMPTY_REGION}
    host = {"kind": "person", "box": [134, 120, 1432, 2333], "outcome": "replaced"}
    row, = person_outcomes(person, [host, folded], 1.0, (2333, 1434))
    assert row["outcome"] == "folded" and row["found"] and row["covered"]
    s = summarize([dict(row, visible=0.0)], has_audit=True)
    assert (s["found"], s["replaced"], s["masked"], s["folded"]) == (1, 0, 0, 1)
    assert s["replaced_of_found"] == 0.0  # nobody got a stand-in of their own
    # A host that does not reach over them, or another reason to skip: not found.
    row, = person_outcomes(person, [folded], 1.0, (2333, 1434))
    assert row["outcome"] == "skipped" and not row["found"]
    row, = person_outcomes(person, [host, dict(folded, reason="unsupported")], 1.0,
                           (2333, 1434))
    assert row["outcome"] == "skipped" and not row["found"]
    # The pixels decide last: a folded person left visible was not found after all.
    row, = person_outcomes(person, [host, folded], 1.0, (2333, 1434))
    believe_pixels(row, 0.9)
    assert not row["found"] and not row["covered"]
    replaced, = person_outcomes(person, [dict(host, box=[1200, 1100, 1434, 2050])], 1.0,
                                (2333, 1434))
    believe_pixels(replaced, 0.9)
    assert replaced["found"] and not replaced["covered"]  # the audit's own row stays found


def test_visible_share_sees_untouched_pixels_but_not_a_fill_over_crushed_black():
    rng = np.random.default_rng(0)
    original = rng.integers(40, 200, (100, 80, 3)).astype(np.uint8)
    original[60:100, 20:60] = 0  # a coat the camera crushed to pure black
    mask = core_ellipse(100, 80) | True
    box = [0, 0, 80, 100]
    assert visible_shares(original, original, [box], [mask], 8) == [1.0]
    filled = original.copy()
    filled[:] = 0
    assert visible_shares(original, filled, [box], [mask], 8)[0] < 0.02
    half = original.copy()
    half[:50] = 0
    assert 0.3 < visible_shares(original, half, [box], [mask], 8)[0] < 0.7
    blurred = original.copy()
    blurred[:] = original.mean(axis=(0, 1)).astype(np.uint8)  # flat: the texture is gone
    assert visible_shares(original, blurred, [box], [mask], 8)[0] < 0.05


def test_labels_match_by_path_or_name_and_teach_the_format(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"photos": [
        {"file": "images/a.png", "people": [{"box": [1, 2, 30, 40], "identity": "x",
                                             "tags": ["edge"]}]},
        {"file": "elsewhere/b.png", "people": []},
        {"file": "images/not-here.png", "people": []}]}))
    labels = read_labels(path, ["a.png", "sub/b.png"])
    assert set(labels) == {"a.png", "sub/b.png"}
    assert labels["a.png"][0].identity == "x" and labels["a.png"][0].tags == {"edge"}
    with pytest.raises(UsageError, match="none of its photos"):
        read_labels(path, ["c.png"])
    path.write_text(json.dumps({"photos": [{"file": "a.png", "people": [{"box": [5, 5, 1, 1],
                                                                         "identity": "x"}]}]}))
    with pytest.raises(UsageError, match="x1 < x2"):
        read_labels(path, ["a.png"])
    path.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a labels file"):
        read_labels(path, ["a.png"])
