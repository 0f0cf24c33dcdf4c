"""RefSD's pose fallback (issue 14): a person MediaPipe could not pose still gets a stand-in
from COCO-17 keypoints lifted with a depth prior; only a person with no usable pose fails
closed. The COCO-17 keypoints here are MediaPipe's estimate of the astronaut mapped to COCO
order (what MoveNet or an annotation would give), with MediaPipe's own landmarks removed.
"""

import dataclasses

import numpy as np
import pytest

from understudy.body.lift import lift_coco17
from understudy.methods.refsd import RefSD, RefSDOptions
from understudy.scene import MEDIAPIPE_OF_COCO17
from understudy.run.guard import run_guarded
from understudy.scene import Face, Outcome, Person

from .conftest import make_scene


def coco_of(person: Person, dx: float = 0.0) -> np.ndarray:
    k = person.keypoints2d[list(MEDIAPIPE_OF_COCO17)].copy()
    k[:, 0] += dx
    return k


def coco_only(person: Person, dx: int = 0, width: int | None = None) -> Person:
    """The same person with only COCO-17 keypoints (MediaPipe found nothing), shifted."""
    mask = person.mask
    if dx:
        mask = np.zeros((mask.shape[0], width), bool)
        mask[:, dx:dx + person.mask.shape[1]] = person.mask[:, :width - dx]
    box = person.box + np.array([dx, 0, dx, 0], np.float32)
    return dataclasses.replace(person, box=box, mask=mask, keypoints2d=None, keypoints3d=None,
                               keypoints_coco17=coco_of(person, dx), faces=[])


def test_lift_keeps_the_2d_and_faces_the_right_way(astronaut_person):
    coco = coco_of(astronaut_person)
    k2, k3 = lift_coco17(coco, astronaut_person.box)
    assert k2.shape == (33, 3) and k3.shape == (33, 4)
    for c, m in enumerate(MEDIAPIPE_OF_COCO17):  # seen keypoints stay where they were
        if k2[m, 2] > 0:
            assert np.allclose(k2[m, :2], coco[c, :2])
    assert (k2[[11, 12, 0], 2] > 0).all()
    # Hip midpoint at the origin, head above it (y down), nose towards the camera (z < 0).
    seen_hips = [m for m in (23, 24) if k3[m, 3] > 0]
    if len(seen_hips) == 2:
        assert np.allclose(k3[[23, 24], :2].mean(0), 0, atol=1e-4)
    assert k3[0, 1] < -0.3 and k3[0, 2] < 0
    # Seen from behind: the subject's left shoulder shows at image left (swap every
    # left/right pair's position) and the face is not seen: the body faces away (nose z > 0).
    back = coco.copy()
    for left in range(1, 17, 2):
        back[[left, left + 1], :2] = coco[[left + 1, left], :2]
    back[:5, 2] = 0.0
    _, k3b = lift_coco17(back, astronaut_person.box)
    assert k3b[0, 2] >= 0 and k3b[0, 3] == 0


def test_lift_scale_is_metric(astronaut_person):
    _, k3 = lift_coco17(coco_of(astronaut_person), astronaut_person.box)
    shoulders = np.linalg.norm(k3[11, :3] - k3[12, :3])
    assert 0.25 < shoulders < 0.5, shoulders  # an adult's shoulder joints, metres


def test_lift_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="17, 3"):
        lift_coco17(np.zeros((33, 3)))


def test_person_without_mediapipe_is_replaced_from_coco17(body, astronaut, astronaut_person):
    scene = make_scene(astronaut, [coco_only(astronaut_person)])
    method = RefSD(RefSDOptions(attributes="random"), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    record = result.regions[0]
    assert record.outcome == Outcome.REPLACED, record.reason
    audit = record.attributes
    assert audit["pose_source"] == "coco17"
    assert audit["fit_error_share"] < 0.03, audit  # 2D keypoints followed within 3 % of height
    assert audit["silhouette_iou"] > 0.55, audit


def test_annotation_keypoints_are_a_fallback_too(body, astronaut, astronaut_person):
    annotated = dataclasses.replace(astronaut_person, keypoints2d=coco_of(astronaut_person),
                                    keypoints3d=None, keypoint_format="coco17", faces=[])
    scene = make_scene(astronaut, [annotated])
    method = RefSD(RefSDOptions(fit_steps=10), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    assert result.regions[0].outcome == Outcome.REPLACED, result.regions[0].reason
    assert result.regions[0].attributes["pose_source"] == "coco17"


def test_no_pose_at_all_fails_closed(body, astronaut, astronaut_person):
    bare = dataclasses.replace(astronaut_person, keypoints2d=None, keypoints3d=None,
                               keypoints_coco17=None, faces=[])
    scene = make_scene(astronaut, [bare])
    method = RefSD(RefSDOptions(fit_steps=5), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    record = result.regions[0]
    assert record.outcome == Outcome.MASKED
    assert "no COCO-17 keypoints" in record.reason
    assert (result.image[scene.regions()[0].mask] == 0).all()


def test_overlapping_people_each_get_their_own_stand_in(body, astronaut, astronaut_person):
    """Two people overlapping by a quarter of their width, the second posed only by COCO-17
    keypoints: both are replaced, each with a different outfit, and neither is left."""
    h, w = astronaut.shape[:2]
    dx = 3 * w // 4
    width = w + dx
    image = np.zeros((h, width, 3), np.uint8)
    image[:, dx:] = astronaut
    image[:, :w][astronaut_person.mask] = astronaut[astronaut_person.mask]  # front person
    back = coco_only(astronaut_person, dx, width)
    front_mask = np.zeros((h, width), bool)
    front_mask[:, :w] = astronaut_person.mask
    back.mask = back.mask & ~front_mask
    front = dataclasses.replace(astronaut_person, mask=front_mask)
    scene = make_scene(image, [front, back], source="two.jpg")
    method = RefSD(RefSDOptions(attributes="random"), body=body)
    result = run_guarded(method, scene, np.random.default_rng(1))
    method.close()
    outcomes = [r.outcome for r in result.regions]
    assert outcomes == [Outcome.REPLACED, Outcome.REPLACED], [r.reason for r in result.regions]
    a, b = (r.attributes for r in result.regions)
    assert (a["pose_source"], b["pose_source"]) == ("mediapipe", "coco17")
    assert a["outfit"] != b["outfit"]
    for region in scene.regions():  # every pixel of each person changed or covered
        changed = np.abs(result.image.astype(int) - image.astype(int)).sum(-1) > 0
        assert changed[region.person.mask].mean() > 0.9


def test_sparse_keypoints_match_the_full_forward(body):
    """The fit's fast path (rest shape once, only the regressed vertices skinned) gives the
    keypoints of anny's full forward within half a millimetre."""
    import torch

    from understudy.body.fit import FIT_BONES, SparseKeypoints, _rodrigues

    anny = body.anny
    pheno = {k: torch.tensor([0.3, 0.8]) for k in anny.phenotype_labels}
    with torch.no_grad():
        rest = anny(phenotype_kwargs=pheno)
        sparse = SparseKeypoints.build(body, rest)
        assert sparse is not None and len(sparse.indices) < 0.2 * rest["rest_vertices"].shape[1]
        aa = torch.randn(2, len(FIT_BONES), 3, generator=torch.Generator().manual_seed(0)) * 0.5
        eye4 = torch.eye(4).expand(2, len(FIT_BONES), 4, 4).clone()
        eye4[:, :, :3, :3] = _rodrigues(aa)
        pose = {name: eye4[:, j] for j, name in enumerate(FIT_BONES)}
        full = body.regressor(anny(pose_parameters=pose, phenotype_kwargs=pheno))
        assert (full - sparse(pose)).abs().max().item() < 5e-4


def test_landmarks_spanning_a_tenth_of_the_box_give_way_to_coco17(body, astronaut,
                                                                   astronaut_person):
    """basketball2: MediaPipe posed the ball in an edge-cut catcher's hands (landmarks over 11 %
    of his box's height) and the stand-in was a crumpled figure by the ball. Without COCO-17
    keypoints such a person fails closed: the refused landmarks are not fitted after all (vtest
    frame 40: a walker's pose found in the bush above him became a stand-in lying on its side)."""
    from understudy.methods.refsd import pose_entry

    person = dataclasses.replace(astronaut_person, keypoints_coco17=coco_of(astronaut_person))
    size = person.mask.shape
    assert pose_entry(person, person.mask, {}, size)["source"] == "mediapipe"
    small = person.keypoints2d.copy()
    top = float(person.box[1])
    small[:, 1] = top + 0.1 * (small[:, 1] - top)  # squashed into the box's top tenth
    squashed = dataclasses.replace(person, keypoints2d=small)
    entry = pose_entry(squashed, person.mask, {}, size)
    assert entry["source"] == "coco17"
    alone = dataclasses.replace(squashed, keypoints_coco17=None, faces=[])
    entry = pose_entry(alone, person.mask, {}, size)
    assert entry["source"] == "none" and "span" in entry["problem"]
    scene = make_scene(astronaut, [alone])
    method = RefSD(RefSDOptions(fit_steps=5), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    record = result.regions[0]
    assert record.outcome == Outcome.MASKED, record.attributes
    assert "span" in record.reason and "no COCO-17 keypoints" in record.reason
    assert (result.image[scene.regions()[0].mask] == 0).all()


def test_upright_under_face_stands_a_body_under_the_face():
    from understudy.body.lift import upright_under_face

    face = np.array([300, 100, 340, 150], np.float32)  # 50 px high
    kp = upright_under_face(face, (1000, 800))
    nose, shoulders, hips, ankles = kp[0], kp[[5, 6]], kp[[11, 12]], kp[[15, 16]]
    assert face[0] < nose[0] < face[2] and face[1] < nose[1] < face[3]
    assert nose[1] < shoulders[:, 1].min() < hips[:, 1].min() < ankles[:, 1].min()
    assert shoulders[0, 0] > shoulders[1, 0]  # the subject's left at image right: facing us
    assert ankles[0, 1] - face[1] == pytest.approx(7.3 * 50)  # a 7.5-head figure
    twice = upright_under_face(face * 2, (2000, 1600))
    np.testing.assert_allclose(twice[:, :2], kp[:, :2] * 2, rtol=1e-5)
    # Cut by the right edge: the face (at least 0.75 of its height wide) reaches past it.
    cut = upright_under_face(np.array([780, 100, 800, 150], np.float32), (1000, 800))
    assert cut[0, 0] > 790


def test_a_face_is_the_last_pose_before_failing_closed(body, astronaut, astronaut_person):
    """No landmarks and no keypoints, but a face: a body standing under it (obama2's bystander
    at the frame's edge, behind the speaker, was masked black before)."""
    from understudy.methods.refsd import pose_entry

    k = astronaut_person.keypoints2d
    eyes, mouth = k[[2, 5], 1].mean(), k[[9, 10], 1].mean()
    span = mouth - eyes
    face = Face(np.array([k[[7, 8], 0].min(), eyes - 1.2 * span, k[[7, 8], 0].max(),
                          mouth + span], np.float32), 0.9)
    bare = dataclasses.replace(astronaut_person, keypoints2d=None, keypoints3d=None,
                               keypoints_coco17=None, faces=[face])
    size = bare.mask.shape
    entry = pose_entry(bare, bare.mask, {}, size)
    assert entry["source"] == "face"
    face = bare.faces[0].box
    nose = entry["keypoints2d"][0]
    assert face[0] <= nose[0] <= face[2] and face[1] <= nose[1] <= face[3]
    scene = make_scene(astronaut, [bare])
    method = RefSD(RefSDOptions(attributes="random"), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    record = result.regions[0]
    assert record.outcome == Outcome.REPLACED, record.reason
    assert record.attributes["pose_source"] == "face"
    assert record.attributes["silhouette_iou"] > 0.4, record.attributes


def test_landmarks_on_their_head_are_refused_like_missing_ones(astronaut_person):
    """vtest 759: MediaPipe turned a woman walking behind a man upside down, and her stand-in
    stood on its head. Such landmarks give way to the fallbacks: COCO-17 keypoints, then the
    face, then failing closed with the reason."""
    from understudy.methods.refsd import pose_entry

    person = astronaut_person
    size = person.mask.shape
    flipped = person.keypoints2d.copy()
    flipped[:, 1] = float(person.box[1] + person.box[3]) - flipped[:, 1]  # head at the feet
    flipped3d = person.keypoints3d.copy()
    flipped3d[:, 1] = -flipped3d[:, 1]  # and in 3D, so the camera still fits
    on_head = dataclasses.replace(person, keypoints2d=flipped, keypoints3d=flipped3d,
                                  keypoints_coco17=None, faces=[])
    entry = pose_entry(on_head, person.mask, {}, size)
    assert entry["source"] == "none" and "upside down" in entry["problem"]
    with_coco = dataclasses.replace(on_head, keypoints_coco17=coco_of(person))
    entry = pose_entry(with_coco, person.mask, {}, size)
    assert entry["source"] == "coco17"
    assert entry["keypoints2d"][0, 1] < entry["keypoints2d"][[23, 24], 1].min()  # upright
    # The same landmarks the right way up are followed.
    assert pose_entry(dataclasses.replace(person, keypoints_coco17=None), person.mask, {},
                      size)["source"] == "mediapipe"
