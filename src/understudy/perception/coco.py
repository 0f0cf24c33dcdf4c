"""The people stage for ``--annotations``: annotated people (read by ``understudy.io.coco``)
with MediaPipe pose and detected faces added.

COCO has no 3D pose, and avatar methods (RefSD) need MediaPipe's 33 landmarks in 2D and 3D. So
``CocoPeople`` runs a pose estimator on each annotated box, as the detected path does. The
annotation stays the source of truth for the box, the mask and the id; a pose is kept only if it
agrees with the annotation (its labelled keypoints, else its mask or box), since a box may also
hold a neighbour. Where no pose is found or kept, the person keeps the COCO keypoints
(``keypoint_format="coco17"``): methods that need no 3D pose still replace them, and RefSD fails
closed. When a pose is kept, the COCO keypoints remain in the file (``Person.annotation_id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from understudy.io.coco import CocoAnnotations
from understudy.scene import MEDIAPIPE_OF_COCO17, Face, Frame, Person

if TYPE_CHECKING:
    from understudy.perception.assemble import PoseEstimator
    from understudy.perception.pose import PoseEstimate

# A pose is the annotated person's when the median distance between its landmarks and the
# labelled COCO keypoints is at most this share of the box diagonal (a neighbour standing in
# the box is a shoulder width or more away, ~0.2).
MAX_KEYPOINT_ERROR = 0.1
MIN_SHARED_KEYPOINTS = 3  # fewer labelled keypoints than this: check against the mask instead
# Without usable keypoints: at least this share of the pose's visible head and torso landmarks
# must lie on the annotated mask (within a few pixels), else inside the annotated box.
MIN_LANDMARKS_ON_MASK = 0.6
MASK_TOLERANCE = 0.03  # of the box height
# MediaPipe landmarks of the head and torso (nose to mouth, shoulders, hips).
CORE_LANDMARKS = tuple(range(13)) + (23, 24)


class CocoPeople:
    """The people stage for ``--annotations``: annotated people, with pose and detected faces.

    ``pose`` (``MediaPipePose`` in ``build_perceiver``) adds MediaPipe-33 2D and 3D landmarks
    to each annotated person whose pose it finds and that agrees with the annotation; without
    it, people keep their COCO keypoints only. A detected face that lies in no annotated
    person is still covered: it becomes a head-sized person marked uncertain, so the guard
    masks it (the annotations may miss someone).
    """

    def __init__(self, annotations: CocoAnnotations, pose: "PoseEstimator | None" = None):
        self.annotations = annotations
        self.pose = pose
        pose_key = "-"
        if pose is not None:
            pose_key = (f"{getattr(pose, 'model_id', type(pose).__name__)}"
                        f"@{getattr(pose, 'options', '')}"
                        f"|check={MAX_KEYPOINT_ERROR},{MIN_SHARED_KEYPOINTS},"
                        f"{MIN_LANDMARKS_ON_MASK},{MASK_TOLERANCE}")
        self.cache_key = f"coco:{annotations.path}@{annotations.digest[:16]}|pose={pose_key}"

    def __call__(self, frame: Frame, faces: list[Face]) -> list[Person]:
        from understudy.perception.assemble import assign_faces
        from understudy.regions import clip_box, head_box

        people = self.annotations.people_for(frame)
        for person in people:
            person.source = "annotation"
        if self.pose is not None:
            for person in people:
                self._add_pose(frame.image, person)
        for face in assign_faces(people, faces):
            people.append(Person(box=clip_box(head_box(face.box), frame.size), score=face.score,
                                 faces=[face], uncertain=True, source="face"))
        return people

    def _add_pose(self, image: np.ndarray, person: Person) -> None:
        """MediaPipe-33 landmarks for an annotated person, if found and theirs; the box,
        mask and id stay the annotation's."""
        if person.uncertain:  # a crowd region is only ever masked: no pose needed
            return
        est = self.pose(image, person.box)
        if est is None or not pose_matches(est, person):
            return
        person.keypoints2d, person.keypoints3d = est.keypoints2d, est.keypoints3d
        person.keypoint_format = "mediapipe33"


def pose_matches(est: "PoseEstimate", person: Person) -> bool:
    """Whether a pose found in an annotated box is the annotated person's, not a neighbour's.

    With at least ``MIN_SHARED_KEYPOINTS`` labelled COCO-17 keypoints: the median distance to
    the matching MediaPipe landmarks, in box diagonals, is at most ``MAX_KEYPOINT_ERROR``.
    Otherwise the pose's visible head and torso landmarks must mostly lie on the annotated
    mask (or, without a mask, inside the annotated box).
    """
    k2 = est.keypoints2d
    x0, y0, x1, y1 = [float(v) for v in person.box]
    if person.keypoints2d is not None and person.keypoint_format == "coco17":
        labelled = person.keypoints2d[:, 2] > 0
        if labelled.sum() >= MIN_SHARED_KEYPOINTS:
            ours = k2[list(MEDIAPIPE_OF_COCO17), :2][labelled]
            theirs = person.keypoints2d[labelled, :2]
            diag = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
            error = float(np.median(np.linalg.norm(ours - theirs, axis=1))) / diag
            return error <= MAX_KEYPOINT_ERROR
    core = k2[list(CORE_LANDMARKS)]
    points = core[core[:, 2] > 0.5, :2]
    if len(points) == 0:
        return False
    if person.mask is not None and person.mask.any():
        h, w = person.mask.shape
        r = max(1, round(MASK_TOLERANCE * (y1 - y0)))
        on = 0
        for x, y in points:
            cx, cy = int(x), int(y)
            window = person.mask[max(cy - r, 0):max(min(cy + r + 1, h), 0),
                                 max(cx - r, 0):max(min(cx + r + 1, w), 0)]
            on += bool(window.size and window.any())
        return on / len(points) >= MIN_LANDMARKS_ON_MASK
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) \
        & (points[:, 1] <= y1)
    return float(inside.mean()) >= MIN_LANDMARKS_ON_MASK
