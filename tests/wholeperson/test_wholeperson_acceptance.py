"""Issue 14's acceptance figures on the labelled people set, with the real CLI:

    RUN_SLOW=1 .venv/bin/python -m pytest -q tests/wholeperson/test_wholeperson_acceptance.py

`understudy anonymize --target people` with maskout and with RefSD in render mode over all
13 photos (39 labelled people), then `understudy evaluate --labels`. One assertion per goal,
so a run says which goals hold today:

* >= 95 % of labelled people found, and >= 95 % covered (replaced or masked, nothing left);
* >= 90 % of RefSD's found people replaced with a stand-in, not masked;
* RefSD's fit: median silhouette IoU >= 0.80, median keypoint error <= 2 % of height;
* body re-ID by each attacker (appearance embedder, clothing colour): original > RefSD, and
  RefSD's R@1 no higher than maskout's + 1 point (not reached: see NOT_YET), and at most one
  person above the attacker's identity-free floor (evaluation/references.py).

About 3-4 minutes on 2 cores (RefSD ~50 s, maskout ~20 s, evaluation ~90 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from people_set import people_set_or_skip, write

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ATTACKERS = ("appearance", "colour")
# Goals of issue 14 that this tree does not reach yet (figures of the last run in the
# reason). strict: the day one of them passes, the test fails until its mark is removed.
NOT_YET = {
    "recall": "issue 14: found 37/39 (94.9 %) by maskout and by refsd, one of them folded "
              "into a neighbour's region in each; missed: a man hidden behind another at "
              "vtest_0625_crop's edge (one box over the two), obama2's left neighbour (a dark "
              "shoulder behind obama, 0.22-0.32 from one detector, dropped as a lone weak box)",
    "reid": "issue 14: colour R@1 refsd 25.6 vs maskout 5.1, appearance 41.0 vs 10.3. "
            "Out of reach for any method that keeps the scene and the pose: the identity-free "
            "references score colour 48.7 (the surroundings alone) and appearance 41.0 (a grey "
            "figure in the pose), see test_refsd_body_reid_at_the_identity_free_floor",
}


def _cli(*args: str) -> None:
    env = dict(os.environ)
    env.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "understudy" / "anny"))
    done = subprocess.run([sys.executable, "-m", "understudy", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=1500)
    assert done.returncode == 0, f"understudy {' '.join(args)}:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("wholeperson")
    write(root / "set", people_set_or_skip())
    images = str(root / "set" / "images")
    for method in ("maskout", "refsd"):
        _cli("anonymize", images, "-o", str(root / method), "--method", method,
             "--target", "people", "--seed", "0", "--quiet")
    _cli("evaluate", "--original", images, "--anonymized", f"maskout={root / 'maskout'}",
         "--anonymized", f"refsd={root / 'refsd'}", "--labels", str(root / "set" / "labels.json"),
         "--measures", "faces,appearance,people", "--no-progress", "-o", str(root / "report"))
    out = json.loads((root / "report" / "report.json").read_text())
    print(json.dumps({n: {"people": m.get("people"),
                          "body": {k: {x: b.get(x) for x in ("R@1", "mAP", "gallery_R@1")}
                                   for k, b in m.get("body", {}).items()}}
                      for n, m in out["methods"].items()}, indent=1))
    return out


def _people(report, method):
    return report["methods"][method]["people"]


@pytest.mark.xfail(strict=True, reason=NOT_YET["recall"])
@pytest.mark.parametrize("method", ["maskout", "refsd"])
def test_people_found(report, method):
    p = _people(report, method)
    assert p["people"] == 39
    assert p["recall"] >= 95.0, p


@pytest.mark.parametrize("method", ["maskout", "refsd"])
def test_every_labelled_person_covered(report, method):
    p = _people(report, method)
    assert p["covered"] >= 95.0, p
    assert p["left_visible"] <= 1, p  # 95 % of 39 leaves room for one


def test_refsd_replaces_found_people_with_stand_ins(report):
    p = _people(report, "refsd")
    assert p["replaced_of_found"] >= 90.0, p


def test_refsd_fit_silhouette_iou(report):
    p = _people(report, "refsd")
    assert p["fit_iou_median"] >= 0.80, p


def test_refsd_fit_keypoint_error(report):
    p = _people(report, "refsd")
    assert p["fit_error_share_median"] <= 2.0, p  # percent of the person's height


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_body_reid_original_above_stand_ins_and_maskout(report, attacker):
    body = {n: report["methods"][n]["body"][attacker] for n in ("original", "maskout", "refsd")}
    assert body["original"]["R@1"] == 100.0
    assert body["original"]["R@1"] > body["refsd"]["R@1"] and body["original"]["R@1"] > body["maskout"]["R@1"]
    # other photos of the same identity (gallery protocol) are found on the originals
    assert body["original"]["gallery_R@1"] > body["maskout"]["gallery_R@1"]


@pytest.mark.xfail(strict=True, reason=NOT_YET["reid"])
@pytest.mark.parametrize("attacker", ATTACKERS)
def test_refsd_body_reid_no_higher_than_maskout(report, attacker):
    r, m = (report["methods"][n]["body"][attacker]["R@1"] for n in ("refsd", "maskout"))
    assert r <= m + 1.0, f"{attacker}: RefSD R@1 {r:.1f} vs maskout {m:.1f}"


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_refsd_body_reid_at_the_identity_free_floor(report, attacker):
    """RefSD's stand-ins give an attacker at most one person more than outputs that hold
    nobody: the surroundings alone, or a figure in the pose in grey or in random clothing
    colours. (A point is under the resolution of 39 people; one person is 2.6 points.)"""
    body = report["methods"]["refsd"]["body"][attacker]
    floor = report["body_references"]["floor"][attacker]
    assert floor["R@1"] > report["methods"]["maskout"]["body"][attacker]["R@1"] + 1.0, floor
    one_person = 100.0 / body["people"]
    assert body["above_floor_R@1"] <= one_person + 1e-6, (body["R@1"], floor)
