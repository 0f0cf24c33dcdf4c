"""Fit anny bodies to people: pose from MediaPipe's metric 3D landmarks, camera from the 2D ones.

What was measured here decides the shape of the fit:

* Fitting the body to the 3D world landmarks and then the camera alone left 8-17 px of
  keypoint error; refining pose and camera together against the 2D landmarks brought 3-9 px.
  So one optimisation holds both terms (``w3d`` and ``w2d``).
* A good start makes few steps enough: the torso's orientation comes from the hips and
  shoulders, every limb's rotation from its landmark direction (both closed form), the
  camera translation from a linear least-squares solve. All people of an image are fitted
  in one batch.
* Gender and height never come from keypoints (fitting gender made men female-bodied): the
  phenotype is fixed from the attributes; only pose and camera are fitted.
* MediaPipe invents landmarks it cannot see: every term is weighted by visibility.
* A long focal length fits better (MediaPipe's world landmarks are nearly orthographic):
  ``FitOptions.focal_scale`` times max(W, H) unless the photo's focal is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from understudy.body.model import ANNY_INDICES, MP_INDICES, MP_TO_ANNY, BodyModel
from understudy.errors import UsageError

if TYPE_CHECKING:
    import torch

# Bones whose rotation is fitted (local-ref deltas about their heads). Twist bones, hands,
# fingers and toes stay in the rest pose.
FIT_BONES = ("spine04", "spine02", "neck01", "upperarm01.L", "upperarm01.R", "lowerarm01.L",
             "lowerarm01.R", "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R",
             "foot.L", "foot.R")
# (bone, its child's head, MediaPipe start landmark, MediaPipe end landmark) for the closed-
# form start, parents before children.
LIMBS = (("upperarm01.L", "lowerarm01.L", 11, 13), ("lowerarm01.L", "wrist.L", 13, 15),
         ("upperarm01.R", "lowerarm01.R", 12, 14), ("lowerarm01.R", "wrist.R", 14, 16),
         ("upperleg01.L", "lowerleg01.L", 23, 25), ("lowerleg01.L", "foot.L", 25, 27),
         ("upperleg01.R", "lowerleg01.R", 24, 26), ("lowerleg01.R", "foot.R", 26, 28))
PARENT_LIMB = {"lowerarm01.L": "upperarm01.L", "lowerarm01.R": "upperarm01.R",
               "lowerleg01.L": "upperleg01.L", "lowerleg01.R": "upperleg01.R"}
OUTLINE_STRIDE = 30  # every 30th shown vertex (~440) stands for the body in the outline term
BORDER_POINTS = 100  # mask border points the outline term pulls vertices to
# A landmark counts as seen above this visibility (for the closed-form start only).
SEEN = 0.5
# Adam steps of a fit warm-started from the track's previous frame (``FitOptions``). On vtest
# frames 200-229 (268 person-frames, RefSD video): keypoint error in % of the person's height,
# median / 90th percentile, and the avatar's silhouette IoU with the person's mask, median:
# every frame cold, 60 steps: 1.12 / 2.29, 0.688; cold, 15 steps: 1.76 / 3.25; warm, 8 steps:
# 1.70 / 3.14, 0.681; 10 steps: 1.67 / 3.06, 0.685; 15 steps: 1.48 / 2.88, 0.686. The fit's
# time, 2 busy cores: 58 s cold, 36 s warm with 15 steps, 23-29 s with 10. The outline (what
# a viewer sees) holds at 10; the keypoints gain a little more from 15.
WARM_STEPS = 10
# A warm fit whose keypoint error ends above this share of the person's height is redone
# cold (a walker whose landmarks turned around: 4 heights off after a warm fit on vtest 212).
REFIT_SHARE = 0.05


@dataclass
class FitOptions:
    steps: int = 60  # Adam steps of the joint 3D + 2D refinement
    # Steps for a person whose entry holds a ``warm`` start (video: the track's fit on the
    # previous frame). A walker's pose moves little in 0.1 s, so the fit starts near its
    # answer; see WARM_STEPS for the measurement.
    warm_steps: int = WARM_STEPS
    lr: float = 0.04
    # Weight of the metric 3D term (errors in 5 cm units). MediaPipe's world landmarks are
    # guessed from one view, the 2D ones are seen: on the labelled people set (35 people)
    # 1.0 -> 0.3 -> 0.1 took the median silhouette IoU 0.768 -> 0.789 -> 0.795 and the
    # keypoint error 1.90 -> 1.46 -> 1.15 % of height; the 3D keeps depth and limb order.
    w3d: float = 0.1
    w2d: float = 1.0  # weight of the 2D term (errors in 2 % of the person's height)
    # Weight of the outline term, for people whose entry holds a ``silhouette`` mask: the
    # keypoints alone leave the limbs' outline 1-3 px off the mask on a 70 px walker. On the
    # labelled people set (35 people) / 31 held-out people (vtest frames 200, 450, 520, 700,
    # two group montages, the samples) 0 -> 0.5 -> 1.0 -> 2.0 took the median silhouette IoU
    # 0.795 / 0.812 -> 0.809 / 0.821 -> 0.808 / 0.827 -> 0.807 / 0.817 and the keypoint error
    # 1.10 / 1.13 -> 1.33 / 1.25 -> 1.59 / 1.42 -> 2.04 / 1.56 % of height. Costs ~0.3 s per
    # person (2 busy cores).
    silhouette: float = 0.5
    prior: float = 0.02  # pull of every fitted rotation towards its closed-form start
    focal_scale: float = 2.0  # focal length = focal_scale * max(W, H) when not given
    focal: float | None = None  # pixels, when the photo's focal length is known
    # Torch threads during the fit. Its tensors are small (13.7k vertices), so one thread is
    # as fast as two on an idle machine and ~10x faster on a busy one (measured here: 1.9 s
    # vs 18 s for 40 steps with the CPU oversubscribed). 0 keeps torch's setting.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.steps < 0 or self.warm_steps < 0:
            raise UsageError(f"fit steps and warm_steps must be >= 0, got {self.steps} and "
                             f"{self.warm_steps}")
        if not self.focal_scale > 0:
            raise UsageError(f"fit focal_scale must be > 0, got {self.focal_scale}")
        if self.silhouette < 0:
            raise UsageError(f"fit silhouette weight must be >= 0, got {self.silhouette}")
        if self.threads < 0:
            raise UsageError(f"fit threads must be >= 0, got {self.threads}")
        if self.focal is not None and not self.focal > 0:
            raise UsageError(f"fit focal must be > 0 pixels, got {self.focal}")

    def focal_for(self, size: tuple[int, int]) -> float:
        return float(self.focal) if self.focal else self.focal_scale * max(size)


@dataclass(frozen=True)
class FitStart:
    """What a fit found, to start the next one from (video: the same track a frame later)."""

    bones: np.ndarray  # (len(FIT_BONES), 3) axis-angle deltas of the fitted bones
    rotation: np.ndarray  # (3, 3) the body's orientation, anny frame -> MediaPipe's world
    # Adam's second moments of the bones, the torso's rotation and the camera translation at
    # the end of the fit (None when it took no step), and how many steps it had taken.
    scales: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    step: int = 0


@dataclass
class BodyFit:
    """One fitted body in the camera frame (OpenCV: x right, y down, z forward, metres)."""

    vertices: np.ndarray  # (V, 3) float32
    rest_vertices: np.ndarray  # (V, 3) unposed, anny frame (for clothing regions)
    rest_heads: np.ndarray  # (bones, 3)
    keypoints2d: np.ndarray  # (21, 2) projected model keypoints, in MediaPipe order MP_INDICES
    error_px: float  # visibility-weighted mean 2D error against the person's landmarks
    depth: float  # camera z of the pelvis, metres: larger is further away
    start: FitStart | None = None  # the fitted pose, to warm-start the track's next frame


# anny 0.6.2's COCO regressor is dense (23 x 13718) but 1162 vertices carry every weight
# above this; dropping the rest moves a keypoint by well under a millimetre (tests/refsd).
NEGLIGIBLE_WEIGHT = 1e-4


class SparseKeypoints:
    """anny's COCO keypoints for a pose without skinning the whole mesh: the regressor reads
    ~2 % of the 13.7k vertices, and the phenotype's rest shape (blendshapes, bone frames:
    ~30 % of a full forward) does not change while the pose is fitted. Same numbers as
    ``regressor(anny(pose, phenotype))`` (checked in tests/refsd), about 3x faster per step.
    """

    def __init__(self, anny, rest_bone_poses, rest_vertices, weights, indices, inverse):
        self.anny = anny
        self.rest_bone_poses = rest_bone_poses
        self.rest_vertices = rest_vertices  # (n, U, 3): only the vertices the regressor reads
        self.weights = weights  # (K, S) regression weights
        self.indices = indices  # (U,) vertex ids
        self.inverse = inverse  # (K, S) position of each regressed vertex in ``indices``

    @classmethod
    def build(cls, body: BodyModel, rest: dict) -> "SparseKeypoints | None":
        """None when this anny's regressor or skinning is not the kind handled here."""
        import torch

        reg = body.regressor
        if not hasattr(body.anny, "_skinning_method"):
            return None
        if getattr(reg, "is_sparse", False):
            indices, inverse = torch.unique(reg.regression_indices, return_inverse=True)
            weights = reg.regression_weights
        else:  # dense (K, V) weights, nearly all tiny: keep the columns that matter
            used = (reg.regression_weights.abs() > NEGLIGIBLE_WEIGHT).any(0)
            indices = torch.nonzero(used).flatten()
            weights = reg.regression_weights[:, indices]
            # Rows keep their sum (keypoints are weighted means of vertices).
            weights = weights * (reg.regression_weights.sum(1, keepdim=True)
                                 / weights.sum(1, keepdim=True))
            inverse = torch.arange(len(indices)).expand(weights.shape[0], -1)
        return cls(body.anny, rest["rest_bone_poses"], rest["rest_vertices"][:, indices],
                   weights, indices, inverse)

    def bone_transforms(self, pose: dict) -> "torch.Tensor":
        """The pose's bone transforms: the costly part of a call, shared by every
        ``SparseKeypoints`` built on the same rest shape (the fit's keypoints and outline)."""
        import roma
        import torch

        transforms, _ = self.anny.get_bone_transforms(pose, self.rest_bone_poses)
        if isinstance(transforms, list):  # as anny's get_skinned_vertices does
            transforms = roma.Rigid(torch.stack([t.linear for t in transforms], dim=1),
                                    torch.stack([t.translation for t in transforms], dim=1)
                                    ).to_homogeneous()
        return transforms

    def __call__(self, pose: dict, transforms: "torch.Tensor | None" = None) -> "torch.Tensor":
        import torch
        from anny.skinning import skinning

        anny = self.anny
        if transforms is None:
            transforms = self.bone_transforms(pose)
        n = transforms.shape[0]
        rest = self.rest_vertices.expand(n, -1, -1)
        if anny._skinning_method is skinning.dense_linear_blend_skinning:
            verts = skinning.dense_linear_blend_skinning(
                rest, anny.dense_vertex_bone_weights[self.indices], transforms)
        else:
            verts = anny._skinning_method(
                rest, bone_weights=anny.vertex_bone_weights[self.indices][None],
                bone_indices=anny.vertex_bone_indices[self.indices][None],
                bone_transforms=transforms)
        return torch.einsum("ks,bksd->bkd", self.weights, verts[:, self.inverse])


def _rodrigues(aa):
    """(..., 3) axis-angle -> (..., 3, 3) rotation, smooth at zero."""
    import torch

    theta2 = (aa * aa).sum(-1, keepdim=True).unsqueeze(-1)
    theta = torch.sqrt(theta2 + 1e-12)
    k = torch.zeros(aa.shape[:-1] + (3, 3), dtype=aa.dtype, device=aa.device)
    x, y, z = aa[..., 0], aa[..., 1], aa[..., 2]
    k[..., 0, 1], k[..., 0, 2] = -z, y
    k[..., 1, 0], k[..., 1, 2] = z, -x
    k[..., 2, 0], k[..., 2, 1] = -y, x
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    a = torch.sin(theta) / theta
    b = (1 - torch.cos(theta)) / theta2.clamp_min(1e-12)
    b = torch.where(theta2 < 1e-10, torch.full_like(b, 0.5), b)
    return eye + a * k + b * (k @ k)


def _matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (3,) axis-angle."""
    cos = np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)
    angle = float(np.arccos(cos))
    if angle < 1e-6:
        return np.zeros(3)
    if np.pi - angle < 1e-4:  # 180 degrees: axis from the symmetric part
        w, v = np.linalg.eigh((r + np.eye(3)) / 2)
        return v[:, np.argmax(w)] * angle
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return axis / (2 * np.sin(angle)) * angle


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b``."""
    a = a / (np.linalg.norm(a) + 1e-9)
    b = b / (np.linalg.norm(b) + 1e-9)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -0.9999:  # opposite: any perpendicular axis
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def torso_rotation(world_anny: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """The body's orientation (anny frame) from hips and shoulders: columns are the body's
    left (+X), back (+Y) and up (+Z) axes."""
    lh, rh, ls, rs = (world_anny[i] for i in (23, 24, 11, 12))
    left = np.zeros(3)
    if min(vis[23], vis[24]) > 0.2:
        left += lh - rh
    if min(vis[11], vis[12]) > 0.2 or not left.any():
        left += ls - rs
    up = (ls + rs) / 2 - (lh + rh) / 2
    if np.linalg.norm(left) < 1e-6 or np.linalg.norm(up) < 1e-6:
        return np.eye(3)
    x = left / np.linalg.norm(left)
    z = up - np.dot(up, x) * x
    if np.linalg.norm(z) < 1e-6:
        return np.eye(3)
    z /= np.linalg.norm(z)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def closed_form_pose(world_anny: np.ndarray, vis: np.ndarray, rest_heads: np.ndarray,
                     body: BodyModel) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Torso rotation and limb deltas that point each visible limb along its landmarks."""
    r0 = torso_rotation(world_anny, vis)
    deltas: dict[str, np.ndarray] = {}
    for bone, child, a, b in LIMBS:
        if min(vis[a], vis[b]) < SEEN:
            continue
        target = r0.T @ (world_anny[b] - world_anny[a])  # in the body's own frame
        parent = PARENT_LIMB.get(bone)
        if parent in deltas:
            target = deltas[parent].T @ target  # chained: child rotates in its parent's frame
        rest = rest_heads[body.bone(child)] - rest_heads[body.bone(bone)]
        deltas[bone] = _align(rest, target)
    return r0, deltas


def solve_translation(world_mp: np.ndarray, kp2d: np.ndarray, weights: np.ndarray,
                      focal: float, center: tuple[float, float]) -> np.ndarray:
    """Camera translation of the hip midpoint so that ``world_mp + t`` projects onto
    ``kp2d``: linear in ``t`` for a pinhole camera (``(u - cx)(Z + tz) = f (X + tx)``)."""
    cx, cy = center
    rows, rhs = [], []
    for p, uv, w in zip(world_mp, kp2d, weights):
        if w <= 0:
            continue
        du, dv = uv[0] - cx, uv[1] - cy
        rows += [[w * focal, 0, -w * du], [0, w * focal, -w * dv]]
        rhs += [w * (du * p[2] - focal * p[0]), w * (dv * p[2] - focal * p[1])]
    if len(rows) < 6:
        raise ValueError("too few visible landmarks to place the camera")
    t, *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)
    if t[2] <= 0.1:  # behind or at the camera: the landmarks are degenerate
        raise ValueError(f"camera fit put the person at z={t[2]:.2f} m")
    return t


def fit_bodies(body: BodyModel, people: list[dict], size: tuple[int, int],
               options: FitOptions) -> list[BodyFit | str]:
    """Fit every person that can be placed; the others get a one-line reason instead.

    People whose entry holds a ``warm`` start (a ``FitStart``) are fitted in their own batch
    with ``options.warm_steps``, the others with ``options.steps``."""
    problems = [check_landmarks(person, size, options.focal_for(size)) for person in people]
    groups: dict[bool, list[int]] = {False: [], True: []}
    for k, (person, problem) in enumerate(zip(people, problems)):
        if not problem:
            groups[person.get("warm") is not None].append(k)
    import torch

    fitted: dict[int, BodyFit | str] = {}
    previous = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        for warm, members in groups.items():
            if not members:
                continue
            steps = options.warm_steps if warm else options.steps
            fits = _fit_each(body, [people[k] for k in members], size, options, steps)
            fitted.update(zip(members, fits))
        # A warm fit that ended far from this frame's landmarks (a turn, a left-right swap the
        # short warm fit could not follow) is fitted again from the closed form, in full.
        again = [k for k in groups[True] if isinstance(fitted[k], BodyFit)
                 and fitted[k].error_px > REFIT_SHARE * max(float(people[k]["scale"]), 16.0)]
        if again:
            cold = [{**people[k], "warm": None} for k in again]
            fits = _fit_each(body, cold, size, options, options.steps)
            for k, fit in zip(again, fits):
                if isinstance(fit, BodyFit) and fit.error_px < fitted[k].error_px:
                    fitted[k] = fit
    finally:
        torch.set_num_threads(previous)
    return [problem or fitted[k] for k, problem in enumerate(problems)]


def _fit_each(body: BodyModel, people: list[dict], size: tuple[int, int],
              options: FitOptions, steps: int) -> list[BodyFit | str]:
    """``people`` fitted in one batch; when one person's landmarks passed the check but
    cannot place a camera at the fit's focal length, one by one, so only that person fails
    (and is masked), not everyone in the frame."""
    try:
        return list(_fit_batch(body, people, size, options, steps))
    except ValueError:
        return [_fit_alone(body, person, size, options, steps) for person in people]


def _fit_alone(body: BodyModel, person: dict, size: tuple[int, int], options: FitOptions,
               steps: int) -> BodyFit | str:
    try:
        return _fit_batch(body, [person], size, options, steps)[0]
    except ValueError as exc:
        return f"landmarks cannot place a camera: {exc}"


def check_landmarks(person: dict, size: tuple[int, int], focal: float | None = None) -> str:
    """Why a person's landmarks cannot place a body ("" when they can), with the camera the
    fit will use (``focal``; default max(W, H))."""
    k2 = np.asarray(person.get("keypoints2d")) if person.get("keypoints2d") is not None else None
    k3 = np.asarray(person.get("keypoints3d")) if person.get("keypoints3d") is not None else None
    if k2 is None or k3 is None or k2.shape != (33, 3) or k3.shape != (33, 4):
        return "no MediaPipe 2D and 3D landmarks (33) for this person"
    if not (np.isfinite(k2).all() and np.isfinite(k3).all()):
        return "landmarks hold NaN or infinite values"
    vis = np.minimum(k2[:, 2], k3[:, 3])
    if min(vis[11], vis[12]) < 0.2 and min(vis[23], vis[24]) < 0.2:
        return "neither shoulders nor hips are visible enough to orient a body"
    h, w = size
    try:
        inside = (k2[:, 0] >= 0) & (k2[:, 0] < w) & (k2[:, 1] >= 0) & (k2[:, 1] < h)
        solve_translation(k3[MP_INDICES, :3], k2[MP_INDICES, :2],
                          (np.clip(vis, 0, 1) * inside)[MP_INDICES], focal or 1.0 * max(size),
                          (w / 2, h / 2))
    except (ValueError, np.linalg.LinAlgError) as exc:
        return f"landmarks cannot place a camera: {exc}"
    return ""


def _fit_batch(body: BodyModel, people: list[dict], size: tuple[int, int],
               options: FitOptions, steps: int | None = None) -> list[BodyFit]:
    """Fit one body per entry of ``people`` in one batch, with ``steps`` Adam steps (default
    ``options.steps``).

    Each entry holds ``keypoints2d`` (33, 3) pixels + visibility, ``keypoints3d`` (33, 4)
    MediaPipe world landmarks, ``phenotype`` (dict of anny phenotype values) and ``scale``
    (the person's height in pixels, for the 2D term's units), and may hold ``warm`` (a
    ``FitStart``: the pose starts there instead of at the closed form). Raises
    ``ValueError`` when the landmarks cannot place a body (the caller fails that person
    closed).
    """
    import torch

    if not people:
        return []
    focal = options.focal_for(size)
    h, w = size
    center = (w / 2.0, h / 2.0)
    anny = body.anny
    labels = list(anny.phenotype_labels)
    pheno = {k: torch.tensor([p["phenotype"].get(k, 0.5) for p in people], dtype=torch.float32)
             for k in labels}
    with torch.no_grad():
        rest = anny(phenotype_kwargs=pheno)
    rest_heads = rest["rest_bone_heads"].numpy()
    rest_verts = rest["rest_vertices"].numpy()

    n = len(people)
    r0 = np.zeros((n, 3, 3))
    init = np.zeros((n, len(FIT_BONES), 3))  # the prior's anchor
    start_bones = np.zeros((n, len(FIT_BONES), 3))
    start_glob = np.zeros((n, 3))
    t0 = np.zeros((n, 3))
    target3 = np.zeros((n, len(MP_INDICES), 3), np.float32)
    target2 = np.zeros((n, len(MP_INDICES), 2), np.float32)
    w3 = np.zeros((n, len(MP_INDICES)), np.float32)
    w2 = np.zeros((n, len(MP_INDICES)), np.float32)
    scales = np.zeros(n, np.float32)
    # Trust in each person's 3D: 1 for MediaPipe's measured world landmarks, less for a
    # depth prior lifted from 2D keypoints (``understudy.body.lift.PRIOR_WEIGHT``).
    trust3 = np.array([float(p.get("weight3d", 1.0)) for p in people], np.float32)
    for i, person in enumerate(people):
        k2 = np.asarray(person["keypoints2d"], np.float64)
        k3 = np.asarray(person["keypoints3d"], np.float64)
        vis = np.clip(np.minimum(k2[:, 2], k3[:, 3]), 0.0, 1.0)
        inside = (k2[:, 0] >= 0) & (k2[:, 0] < w) & (k2[:, 1] >= 0) & (k2[:, 1] < h)
        vis2 = vis * inside
        world_anny = k3[:, :3] @ MP_TO_ANNY.T
        r0[i], deltas = closed_form_pose(world_anny, vis, rest_heads[i], body)
        warm = person.get("warm")
        for j, bone in enumerate(FIT_BONES):
            if bone in deltas:
                init[i, j] = _matrix_to_axis_angle(deltas[bone])
            elif warm is not None:  # a limb unseen now keeps the track's pose, not the rest
                init[i, j] = warm.bones[j]
        start_bones[i] = init[i] if warm is None else warm.bones
        if warm is not None:  # the torso starts where it was; the prior still pulls to r0
            start_glob[i] = _matrix_to_axis_angle(np.asarray(warm.rotation) @ r0[i].T)
        t0[i] = solve_translation(k3[MP_INDICES, :3], k2[MP_INDICES, :2], vis2[MP_INDICES],
                                  focal, center)
        target3[i] = k3[MP_INDICES, :3]
        target2[i] = k2[MP_INDICES, :2]
        w3[i] = vis[MP_INDICES]
        w2[i] = vis2[MP_INDICES]
        scales[i] = max(float(person["scale"]), 16.0)

    t_r0 = torch.tensor(r0, dtype=torch.float32)
    to_mp = torch.tensor(MP_TO_ANNY.T, dtype=torch.float32)  # anny -> MediaPipe frame
    init_t = torch.tensor(init, dtype=torch.float32)
    aa = torch.tensor(start_bones, dtype=torch.float32).requires_grad_(True)
    glob = torch.tensor(start_glob, dtype=torch.float32).requires_grad_(True)
    trans = torch.tensor(t0, dtype=torch.float32).requires_grad_(True)
    tgt3 = torch.tensor(target3)
    tgt2 = torch.tensor(target2)
    tw3 = torch.tensor(w3)
    t_trust3 = torch.tensor(trust3)
    tw2 = torch.tensor(w2)
    tscale = torch.tensor(scales)[:, None]
    anny_idx = torch.as_tensor(ANNY_INDICES)
    hips = [list(MP_INDICES).index(23), list(MP_INDICES).index(24)]

    sparse = SparseKeypoints.build(body, rest)
    outline = Outline.build(body, rest, people, options.silhouette) if sparse is not None else None

    def forward(with_vertices: bool = False):
        rots = _rodrigues(aa)
        eye4 = torch.eye(4).expand(n, len(FIT_BONES), 4, 4).clone()
        eye4[:, :, :3, :3] = rots
        pose = {name: eye4[:, j] for j, name in enumerate(FIT_BONES)}
        transforms = None
        if with_vertices or sparse is None:
            out = anny(pose_parameters=pose, phenotype_kwargs=pheno)
            kp = body.regressor(out)
        else:
            transforms = sparse.bone_transforms(pose)
            kp = sparse(pose, transforms)
        kp = kp[:, anny_idx]  # (n, 21, 3) anny frame, pelvis at origin
        rot = _rodrigues(glob) @ t_r0
        kp_mp = kp @ rot.transpose(1, 2) @ to_mp.T
        verts = out["vertices"] @ rot.transpose(1, 2) @ to_mp.T if with_vertices else None
        if outline is not None and not with_vertices:
            verts = outline.skin(pose, transforms) @ rot.transpose(1, 2) @ to_mp.T
        return kp_mp, verts

    def project(points_mp):
        cam = points_mp + trans[:, None, :]
        z = cam[..., 2:3].clamp_min(0.05)
        return cam[..., :2] / z * focal + torch.tensor(center)

    def losses(kp_mp):
        hip_model = kp_mp[:, hips].mean(1, keepdim=True)
        hip_target = tgt3[:, hips].mean(1, keepdim=True)
        e3 = ((kp_mp - hip_model) - (tgt3 - hip_target)).norm(dim=-1) / 0.05
        l3 = (tw3 * e3 ** 2).sum(1) / tw3.sum(1).clamp_min(1e-6)
        e2 = (project(kp_mp - hip_model) - tgt2).norm(dim=-1) / (0.02 * tscale)
        l2 = (tw2 * torch.sqrt(1 + e2 ** 2)).sum(1) / tw2.sum(1).clamp_min(1e-6)
        return l3, l2, hip_model

    # Re-solve the camera with the model's own keypoints at the start pose: the body's
    # proportions differ from MediaPipe's, and a start on the model's points halves the steps.
    # A warm start (the track's last pose) is kept only where it fits this frame's landmarks
    # better than the closed form does: MediaPipe sometimes swaps left and right or turns a
    # walker around between frames, and a start in the wrong basin stays there (a walker on
    # vtest 212 ended 4 heights off after 15 warm steps).
    starts = [(start_bones, start_glob)]
    if any(p.get("warm") is not None for p in people):
        starts.append((init, np.zeros((n, 3))))
    best = None
    with torch.no_grad():
        landmark_trans = trans.clone()
        for bones0, glob0 in starts:
            aa.copy_(torch.tensor(bones0, dtype=torch.float32))
            glob.copy_(torch.tensor(glob0, dtype=torch.float32))
            trans.copy_(landmark_trans)
            kp_mp, _ = forward()
            hip_model = kp_mp[:, hips].mean(1, keepdim=True)
            start = (kp_mp - hip_model).numpy()
            for i in range(n):
                try:
                    trans[i] = torch.tensor(solve_translation(start[i], target2[i], w2[i],
                                                              focal, center), dtype=torch.float32)
                except ValueError:
                    pass  # keep the landmark-based start
            l3, l2, _ = losses(kp_mp)
            score = options.w3d * t_trust3 * l3 + options.w2d * l2
            if best is None:
                best = (score, aa.clone(), glob.clone(), trans.clone())
                continue
            better = (score < best[0])[:, None]
            best = (torch.minimum(score, best[0]), torch.where(better[..., None], aa, best[1]),
                    torch.where(better, glob, best[2]), torch.where(better, trans, best[3]))
        _, a0, g0, t0_best = best
        aa.copy_(a0)
        glob.copy_(g0)
        trans.copy_(t0_best)
    optimizer = torch.optim.Adam([aa, glob, trans], lr=options.lr)
    params = (aa, glob, trans)
    warm = [p.get("warm") for p in people]
    if all(w is not None and w.scales is not None for w in warm):
        # Adam's first steps move every parameter by about the rate whatever its gradient (the
        # second moments start at zero): from a start at the answer itself, 5 such steps took
        # the astronaut's fit from 5 to 17 px of error. With the track's gradient scales
        # carried over, a step is as large as this person's gradients call for.
        step = torch.tensor(float(min(w.step for w in warm)))
        for k, param in enumerate(params):
            optimizer.state[param] = {
                "step": step.clone(), "exp_avg": torch.zeros_like(param),
                "exp_avg_sq": torch.tensor(np.stack([w.scales[k] for w in warm]),
                                           dtype=torch.float32)}
    for _ in range(options.steps if steps is None else steps):
        optimizer.zero_grad()
        kp_mp, sil_verts = forward()
        l3, l2, hip_model = losses(kp_mp)
        reg = ((aa - init_t) ** 2).sum((1, 2)) + (glob ** 2).sum(1)
        loss = (options.w3d * t_trust3 * l3 + options.w2d * l2 + options.prior * reg).sum()
        if outline is not None:
            loss = loss + options.silhouette * outline.loss(project(sil_verts - hip_model),
                                                            tscale[:, 0]).sum()
        loss.backward()
        # The translation lives in metres and the rotations in radians: a smaller step keeps
        # the camera from jumping before the pose settles.
        trans.grad *= 0.25
        optimizer.step()

    with torch.no_grad():
        kp_mp, verts = forward(with_vertices=True)
        _, _, hip_model = losses(kp_mp)
        kp2 = project(kp_mp - hip_model).numpy()
        verts_cam = (verts - hip_model + trans[:, None, :]).numpy()
        pelvis = (-hip_model[:, 0] + trans).numpy()
        bones = aa.detach().numpy().copy()
        rotation = (_rodrigues(glob) @ t_r0).numpy()
        state = [optimizer.state.get(param) for param in params]
        scales = [st["exp_avg_sq"].numpy().copy() if st else None for st in state]
        step = int(state[0]["step"]) if state[0] else 0
    fits = []
    for i in range(n):
        err = np.linalg.norm(kp2[i] - target2[i], axis=1)
        error_px = float((err * w2[i]).sum() / max(w2[i].sum(), 1e-6))
        fits.append(BodyFit(verts_cam[i].astype(np.float32), rest_verts[i], rest_heads[i],
                            kp2[i].astype(np.float32), error_px, float(pelvis[i, 2]),
                            FitStart(bones[i], rotation[i].astype(np.float64),
                                     None if scales[0] is None else
                                     tuple(v[i] for v in scales), step)))
    return fits


class Outline:
    """How far a body's projected outline lies from the person's mask: vertices outside the
    mask (the distance transform beyond it, read bilinearly) and mask border points far from
    every vertex (one-sided chamfer), both in 2 % of the person's height."""

    def __init__(self, skin: SparseKeypoints, masks: list[tuple | None]):
        self.skin = skin  # SparseKeypoints that returns the sampled vertices themselves
        self.masks = masks  # per person: None or (dt (1, 1, h, w), x0, y0, border (B, 2))

    @classmethod
    def build(cls, body: BodyModel, rest: dict, people: list[dict], weight: float
              ) -> "Outline | None":
        """None when the term is off or nobody has a mask (the fit then costs as before)."""
        import torch

        if weight <= 0 or not any(p.get("silhouette") is not None for p in people):
            return None
        shown = np.unique(body.faces[~body.hidden_faces])
        idx = torch.as_tensor(shown[::OUTLINE_STRIDE])
        k = len(idx)
        skin = SparseKeypoints(body.anny, rest["rest_bone_poses"], rest["rest_vertices"][:, idx],
                               torch.ones(k, 1), idx, torch.arange(k)[:, None])
        return cls(skin, [mask_target(p.get("silhouette")) for p in people])

    def loss(self, uv: "torch.Tensor", scale: "torch.Tensor") -> "torch.Tensor":
        """(n,) outline loss of each person's projected vertices ``uv`` (n, K, 2) px."""
        import torch
        import torch.nn.functional as F

        out = []
        for i, m in enumerate(self.masks):
            if m is None:
                out.append(uv.new_zeros(()))
                continue
            dt, x0, y0, border = m
            h, w = dt.shape[-2:]
            grid = torch.stack([(uv[i, :, 0] - x0) / max(w - 1, 1) * 2 - 1,
                                (uv[i, :, 1] - y0) / max(h - 1, 1) * 2 - 1], -1)
            d = F.grid_sample(dt, grid[None, None], align_corners=True,
                              padding_mode="border")[0, 0, 0]
            e_in = d / (0.02 * scale[i])
            e_cover = torch.cdist(border, uv[i]).min(1).values / (0.02 * scale[i])
            out.append((torch.sqrt(1 + e_in ** 2) - 1).mean()
                       + (torch.sqrt(1 + e_cover ** 2) - 1).mean())
        return torch.stack(out)


def mask_target(mask: np.ndarray | None) -> tuple | None:
    """What the outline term reads of one (H, W) bool mask: the distance to it (px) over the
    mask's box grown by a fifth of its height, the box's corner, and up to ``BORDER_POINTS``
    points of its outer border (x, y px); None for no mask."""
    import cv2
    import torch

    if mask is None or not np.asarray(mask).any():
        return None
    mask = np.asarray(mask, bool)
    ys, xs = np.nonzero(mask)
    pad = max(4, int(0.2 * (ys.max() - ys.min() + 1)))
    y0, x0 = max(int(ys.min()) - pad, 0), max(int(xs.min()) - pad, 0)
    crop = mask[y0:ys.max() + pad + 1, x0:xs.max() + pad + 1].astype(np.uint8)
    dt = cv2.distanceTransform(1 - crop, cv2.DIST_L2, 3)
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    border = np.concatenate([c[:, 0] for c in contours]).astype(np.float32)
    pick = np.linspace(0, len(border) - 1, min(len(border), BORDER_POINTS)).astype(int)
    return (torch.tensor(dt)[None, None], x0, y0,
            torch.tensor(border[pick] + [x0, y0], dtype=torch.float32))
