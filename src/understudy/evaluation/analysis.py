"""Per-image analyses, each cached by the image's content hash.

``analyse_original`` reads everything an original gives (faces and their embeddings per
recognizer, people and their poses, attributes, quality); ``analyse_anonymized`` reads the
same from an anonymized image, reading poses and body crops at the original's people.
Analyses of identical files are shared, so the "original" reference row costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from understudy.evaluation.cache import AnalysisCache
from understudy.evaluation.coverage import visible_shares
from understudy.evaluation.dataset import file_digest, read_rgb
from understudy.evaluation.models import Models
from understudy.evaluation.options import EvaluationOptions
from understudy.evaluation.posture import expand, face_seeded_crops
from understudy.evaluation.recognizers import downscale


class Analyser:
    def __init__(self, options: EvaluationOptions, models: Models, cache: AnalysisCache):
        self.options = options
        self.models = models
        self.cache = cache

    def load(self, path: Path, size: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, str, bool, float, tuple[int, int]]:
        """The image at analysis size (long side <= max_side), its digest, whether it had to
        be resized to ``size`` (the original's full size) to be compared, and the factor from
        full-size pixels (as in audit boxes) to analysis pixels, and the full size."""
        digest = file_digest(path)
        image = read_rgb(path)
        resized = False
        if size is not None and image.shape[:2] != size:
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            resized = True
        full = image.shape[:2]
        image, back = downscale(image, self.options.max_side)
        return np.ascontiguousarray(image), digest, resized, 1.0 / back, full

    # -- pieces ----------------------------------------------------------------------------
    def faces(self, image: np.ndarray, digest: str) -> dict[str, Any]:
        out = {}
        for name in self.options.recognizers:
            rec = self.models.recognizer(name)
            out[name] = self.cache.get_or_compute(f"faces-{name}", rec.version, digest,
                                                  lambda: rec.analyse(image),
                                                  extra=self.options.max_side)
        return out

    def attribute_boxes(self, faces: dict[str, Any]) -> list[list[float]]:
        key = "sface" if "sface" in faces else next(iter(faces), None)
        return faces[key]["boxes"] if key else []

    def attributes(self, image: np.ndarray, digest: str, boxes: list) -> list[dict[str, Any]]:
        reader = self.models.attributes()
        return self.cache.get_or_compute("attributes", reader.version, digest,
                                         lambda: {"faces": reader(image, boxes)},
                                         extra=[self.options.max_side, boxes])["faces"]

    def people(self, image: np.ndarray, digest: str) -> dict[str, Any]:
        """People of an original: crops, boxes and keypoints; and how they were found."""

        def compute() -> dict[str, Any]:
            size = image.shape[:2]
            detector = self.models.people_detector()
            found = detector(image) if detector is not None else []
            if found:
                crops, source = [expand(b, size) for b in found], "people detector"
            else:
                faces = [list(map(float, f.box)) for f in self.models.face_detector()(image)]
                if faces:
                    crops, source = face_seeded_crops(faces, size), "face-seeded crops"
                else:
                    crops, source = [[0.0, 0.0, float(size[1]), float(size[0])]], "whole image"
            reader = self.models.pose()
            poses = reader.detect(image, crops)
            people = _dedupe([{"crop": c, **p} for c, p in zip(crops, poses) if p is not None])
            references = reader.track(image, image, [p["crop"] for p in people])
            for person, ref in zip(people, references):
                person["reference"] = ref
            return {"people": people, "source": source}

        return self.cache.get_or_compute("people", "2", digest, compute,
                                         extra=[self.options.max_side,
                                                self.models.people_detector() is not None])

    def poses_at(self, original: dict[str, Any], image: np.ndarray, digest: str) -> dict[str, Any]:
        """Keypoints tracked from each original person's region, and (without a people
        detector) whether the full pose model still detects someone in the crop."""
        reader = self.models.pose()
        crops = [p["crop"] for p in original["people"]["people"]]
        static = self.models.people_detector() is None

        def compute() -> dict[str, Any]:
            out: dict[str, Any] = {"tracked": reader.track(original["image"], image, crops)}
            if static:
                out["detected"] = [d["box"] if d else None for d in reader.detect(image, crops)]
            return out

        return self.cache.get_or_compute("poses-at", reader.version, digest, compute,
                                         extra=[original["digest"], self.options.max_side,
                                                crops, static])

    def detected_people(self, image: np.ndarray, digest: str) -> list | None:
        detector = self.models.people_detector()
        if detector is None:
            return None
        return self.cache.get_or_compute(
            "people-boxes", "1", digest,
            lambda: {"boxes": detector(image)},
            extra=self.options.max_side)["boxes"]

    def _body_attackers(self) -> list[tuple[str, Any]]:
        """(kind, model getter) of every body attacker this evaluation runs."""
        kinds = []
        if "appearance" in self.options.measures:
            kinds.append(("appearance", self.models.appearance))
            kinds.append(("colour", self.models.colour))
        if self.options.body_reid_model:
            kinds.append(("reid", self.models.reid))
        return kinds

    def body(self, image: np.ndarray, digest: str, boxes: list) -> dict[str, Any]:
        out = {}
        for kind, get in self._body_attackers():
            model = get()
            out[kind] = self.cache.get_or_compute(
                f"body-{kind}", model.version, digest,
                lambda: {"vectors": model(image, boxes).round(5).tolist()},
                extra=[self.options.max_side, boxes])["vectors"]
        return out

    def references(self, image: np.ndarray, digest: str, boxes: list,
                   pixels: list[np.ndarray]) -> dict[str, dict[str, Any]]:
        """Body vectors of the original's identity-free references (``references.py``), by
        reference then attacker."""
        from understudy.evaluation.references import REFERENCES, VERSION, reference_images

        attackers = [(kind, get()) for kind, get in self._body_attackers()]

        def compute() -> dict[str, Any]:
            images = reference_images(image, boxes, pixels, digest)
            return {name: {kind: model(images[name], boxes).round(5).tolist()
                           for kind, model in attackers} for name in REFERENCES}

        return self.cache.get_or_compute(
            "body-references", VERSION, digest, compute,
            extra=[self.options.max_side, boxes, self.models.person_pixels().version,
                   [(kind, model.version) for kind, model in attackers]])

    def quality(self, image: np.ndarray, digest: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "quality" not in self.options.measures:
            return out
        brisque = self.models.brisque()
        out["brisque"] = self.cache.get_or_compute("brisque", brisque.version, digest,
                                                   lambda: {"v": brisque(image)},
                                                   extra=self.options.max_side)["v"]
        if self.options.inception:
            net = self.models.inception()
            out["inception"] = self.cache.get_or_compute(
                "inception", net.version, digest, lambda: {"v": net(image).tolist()})["v"]
        return out

    # -- whole images ----------------------------------------------------------------------
    def analyse_original(self, path: Path, labelled: list | None = None) -> dict[str, Any]:
        """``labelled``: the hand-labelled people of this image (``labels.LabelledPerson``,
        full-size pixels); they replace the detected people for body re-ID and coverage."""
        image, digest, _, scale, full = self.load(path)
        res: dict[str, Any] = {"digest": digest, "size": list(full), "scale": scale, "image": image}
        m = self.options.measures
        res["faces"] = self.faces(image, digest) if "faces" in m or "attributes" in m else {}
        needs_people = "posture" in m or (labelled is None and (
            "appearance" in m or "people" in m or self.options.body_reid_model))
        res["people"] = self.people(image, digest) if needs_people else {"people": [], "source": ""}
        res["truth"] = truth_people(res["people"], labelled, scale)
        boxes = res["truth"]["boxes"]
        res["body"] = self.body(image, digest, boxes) if boxes else {}
        attacked = bool(boxes) and bool(self._body_attackers())
        res["pixels"] = self.models.person_pixels()(image, boxes) \
            if boxes and ("people" in m or attacked) else []
        res["references"] = self.references(image, digest, boxes, res["pixels"]) if attacked else {}
        if "attributes" in m:
            res["attributes"] = self.attributes(image, digest, self.attribute_boxes(res["faces"]))
        res["quality"] = self.quality(image, digest)
        return res

    def analyse_anonymized(self, path: Path, original: dict[str, Any]) -> dict[str, Any]:
        size = tuple(original["size"])
        image, digest, resized, _, _ = self.load(path, size)
        res: dict[str, Any] = {"digest": digest, "resized": resized, "image": image}
        m = self.options.measures
        res["faces"] = self.faces(image, digest) if "faces" in m or "attributes" in m else {}
        people = original["people"]["people"]
        if people and "posture" in m:
            res["poses"] = self.poses_at(original, image, digest)
            res["people_boxes"] = self.detected_people(image, digest)
        else:
            res["poses"], res["people_boxes"] = {"tracked": []}, None
        boxes = original["truth"]["boxes"]
        res["body"] = self.body(image, digest, boxes) if boxes else {}
        res["visible"] = visible_shares(original["image"], image, boxes, original["pixels"],
                                        self.options.changed_threshold) if original["pixels"] else []
        if "attributes" in m:
            res["attributes"] = self.attributes(image, digest, self.attribute_boxes(res["faces"]))
        res["quality"] = self.quality(image, digest)
        return res


def truth_people(people: dict[str, Any], labelled: list | None, scale: float) -> dict[str, Any]:
    """The people whom recall, coverage and body re-ID count: the labelled ones (boxes scaled
    to analysis pixels, with identities and tags) or else the detected ones."""
    if labelled is not None:
        return {"source": "labels", "boxes": [[float(v) * scale for v in p.box] for p in labelled],
                "identities": [p.identity for p in labelled],
                "tags": [sorted(p.tags) for p in labelled]}
    return {"source": people.get("source") or "people detector",
            "boxes": [list(map(float, p["box"])) for p in people["people"]],
            "identities": None, "tags": [[] for _ in people["people"]]}


def _dedupe(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two crops that found the same person (boxes overlapping > 0.7) keep the first."""
    from understudy.regions import box_iou

    kept: list[dict[str, Any]] = []
    for p in people:
        if all(box_iou(p["box"], q["box"]) <= 0.7 for q in kept):
            kept.append(p)
    return kept

