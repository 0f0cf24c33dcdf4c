"""The evaluation's arithmetic on made-up inputs whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import UsageError
from understudy.evaluation import attribute_fidelity as attrs
from understudy.evaluation import posture
from understudy.evaluation.cache import AnalysisCache
from understudy.evaluation.dataset import read_audit
from understudy.evaluation.options import EvaluationOptions
from understudy.evaluation.privacy import FaceEntry, face_privacy, pair_boxes
from understudy.evaluation.quality import collateral_change, fid, kid
from understudy.evaluation.recognizers import DlibRecognizer, SFaceRecognizer


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def test_pair_boxes_pairs_by_overlap_and_leaves_the_missing_out():
    original = [[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]]
    anonymized = [[21, 1, 31, 11], [1, 0, 11, 10]]
    assert pair_boxes(original, anonymized) == [1, 0, None]


def test_full_reference_ranks_leaks_and_missing_faces():
    e = np.eye(16)
    gallery = [e[0], e[1], e[2], e[3]]
    entries = [
        FaceEntry("a.png", 0, gallery[0], gallery[0].copy(), "a.png"),  # identical: leaks, rank 1
        FaceEntry("a.png", 1, gallery[1], unit(e[2] + 0.3 * e[1]), "a.png"),  # like #2: rank 2, no leak
        FaceEntry("b.png", 0, gallery[2], None, "b.png"),  # not found: never a success
        FaceEntry("c.png", 0, gallery[3], unit(e[3] + 0.3 * e[5]), "c.png"),  # close: leaks
    ]
    out = face_privacy(entries, SFaceRecognizer, 0.363, labelled=False)
    fr = out["full_reference"]
    assert out["faces"] == 4 and out["not_found"] == 1
    assert fr["R@1"] == pytest.approx(50.0)  # faces 0 and 3 rank first, 1 does not, 2 missing
    assert fr["R@5"] == pytest.approx(75.0)
    assert fr["mAP"] == pytest.approx(100 * (1 + 0.5 + 0 + 1) / 4)
    assert out["leak_rate"] == pytest.approx(50.0)  # faces 0 and 3 pass the cosine threshold


def test_labelled_gallery_excludes_the_own_image_and_skips_lonely_identities():
    rng = np.random.default_rng(1)
    obama = unit(rng.normal(size=8))
    biden = unit(rng.normal(size=8))
    near = lambda v: unit(v + 0.1 * rng.normal(size=8))  # noqa: E731
    entries = [FaceEntry("obama_1.jpg", 0, near(obama), near(obama), "obama"),
               FaceEntry("obama_2.jpg", 0, near(obama), near(obama), "obama"),
               FaceEntry("biden_1.jpg", 0, near(biden), near(biden), "biden")]
    out = face_privacy(entries, SFaceRecognizer, 0.363, labelled=True)
    assert out["gallery"]["queries"] == 2 and out["gallery"]["skipped"] == 1
    assert out["gallery"]["R@1"] == 100.0
    assert out["full_reference"]["queries"] == 3


def test_dlib_threshold_is_a_distance():
    a = np.zeros((1, 128))
    b = np.full((1, 128), 0.5 / np.sqrt(128))  # L2 0.5: same person for dlib
    c = np.full((1, 128), 0.7 / np.sqrt(128))  # L2 0.7: not
    entries = [FaceEntry("x", 0, a[0], b[0], "x"), FaceEntry("y", 0, a[0] + 5, c[0] + 5, "y")]
    assert face_privacy(entries, DlibRecognizer, 0.6, labelled=False)["leak_rate"] == 50.0


def test_pose_comparison_scores_identity_shift_and_loss():
    kp = np.array([[10.0 * i, 5.0 * i, 0.9] for i in range(17)])
    person = {"reference": kp.tolist(), "box": [0, 0, 160, 200]}
    same = posture.compare_pose(person, kp.tolist(), True)
    assert same["oks"] == pytest.approx(1.0) and same["pck@0.05"] == 1.0
    shifted = kp.copy()
    shifted[:, 0] += 15  # 15 px on a 200 px person: within 0.1, not within 0.05
    moved = posture.compare_pose(person, shifted.tolist(), True)
    assert moved["pck@0.05"] == 0.0 and moved["pck@0.1"] == 1.0 and 0 < moved["oks"] < 1
    lost = posture.compare_pose(person, None, False)
    assert lost["oks"] == 0.0 and lost["found"] is False
    summary = posture.summarize([same, moved, lost])
    assert summary["people"] == 3 and summary["detection_recall"] == pytest.approx(200 / 3)
    assert summary["pck@0.1"] == pytest.approx(200 / 3)


def test_face_seeded_crops_stop_half_way_to_the_neighbour():
    crops = posture.face_seeded_crops([[100, 50, 140, 100], [200, 50, 240, 100]], (600, 400))
    assert crops[0][2] == pytest.approx(170) and crops[1][0] == pytest.approx(170)
    assert crops[0][3] > 400  # the body below the face


def test_fid_and_kid_are_zero_for_the_same_set_and_grow_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    b = rng.normal(size=(200, 8))
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert abs(kid(a, b, subsets=20, subset_size=100)) < 0.05
    assert fid(a, b + 2.0) > 20 and kid(a, b + 2.0, subsets=20, subset_size=100) > 0.5


def test_collateral_change_outside_people_only():
    original = np.zeros((100, 100, 3), np.uint8)
    anonymized = original.copy()
    anonymized[10:20, 10:20] = 255  # inside the person
    anonymized[90:100, 90:100] = 100  # outside: 100 of 10000 - 400 pixels
    protected = np.zeros((100, 100), bool)
    protected[0:20, 0:20] = True
    out = collateral_change(original, anonymized, protected, threshold=8)
    assert out["changed_outside"] == pytest.approx(100 * 100 / 9600)
    assert out["changed_inside"] == pytest.approx(25.0)
    untouched = collateral_change(original, original, protected, threshold=8)
    assert untouched["changed_outside"] == 0 and untouched["psnr_outside"] == 100.0


@pytest.mark.parametrize("value, expected", [
    ("30s", (30, 39)), ("20-30", (20, 30)), (45, (45, 45)), ("elderly", (65, 95)),
    ("a young adult", (18, 30)), ("unknown", None)])
def test_parse_age(value, expected):
    assert attrs.parse_age(value) == expected


def test_prompted_attributes_are_checked_with_tolerance():
    prompt = attrs.prompt_of({"Gender": "woman", "age": "30s", "emotion": "smiling", "ethnicity": "x"})
    assert prompt == {"gender": "female", "age": (30.0, 39.0), "emotion": "happy"}
    assert attrs.shown(prompt, {"gender": "female", "age": 47.0, "emotion": "happy"}) == \
        {"gender": True, "age": True, "emotion": True}
    assert attrs.shown(prompt, {"gender": "male", "age": 55.0, "emotion": "sad"}) == \
        {"gender": False, "age": False, "emotion": False}


def test_audit_rows_found_by_relative_path_even_from_elsewhere(tmp_path):
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    rows = [{"source": "/elsewhere/data/sub/a.png", "output": "/elsewhere/out/sub/a.png",
             "seconds": 1.5, "status": "ok"},
            {"source": str(tmp_path / "orig" / "b.png"), "output": "gone/b.png", "seconds": 2}]
    (folder / "audit.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    audit = read_audit(folder, tmp_path / "orig", ["sub/a.png", "b.png", "c/a.png"])
    assert audit["sub/a.png"]["seconds"] == 1.5 and audit["b.png"]["seconds"] == 2
    assert "c/a.png" not in audit


def test_options_teach_what_is_allowed():
    with pytest.raises(UsageError, match="allowed: dlib, sface"):
        EvaluationOptions(recognizers="dlib,arcface")
    with pytest.raises(UsageError, match="needs one group"):
        EvaluationOptions(identity_pattern=r"\d+_")
    with pytest.raises(UsageError, match="is not a file"):
        EvaluationOptions(inception="/nonexistent/inception.pt")
    assert EvaluationOptions(measures="faces,posture").measures == ("faces", "posture")


def test_cache_reuses_by_content_and_survives_torn_files(tmp_path):
    cache = AnalysisCache(tmp_path)
    calls = []
    compute = lambda: calls.append(1) or {"v": len(calls)}  # noqa: E731
    assert cache.get_or_compute("x", "1", "abc", compute) == {"v": 1}
    assert cache.get_or_compute("x", "1", "abc", compute) == {"v": 1}
    assert cache.get_or_compute("x", "2", "abc", compute) == {"v": 2}  # new version: recompute
    for path in tmp_path.rglob("*.json"):
        path.write_text("{torn")
    assert cache.get_or_compute("x", "1", "abc", compute) == {"v": 3}
    assert (cache.hits, cache.misses) == (1, 3)
