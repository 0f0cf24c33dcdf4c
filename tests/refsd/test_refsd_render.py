"""RefSD stages 1-2 on a real photo: the promises of render mode.

Uses the anny model (session fixture: ~50 s the first time on a machine, a few seconds after).
"""

import numpy as np
import pytest

from understudy.run.guard import run_guarded
from understudy.methods.refsd import RENDER_NOTE, RefSD, RefSDOptions
from understudy.regions import dilate
from understudy.scene import Outcome, Person

from .conftest import make_scene


def dlib_descriptor(image, box):
    """dlib's 128-D face descriptor at a fixed face box (so a missed detection cannot pass)."""
    dlib = pytest.importorskip("dlib")
    models = pytest.importorskip("face_recognition_models")
    shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    x0, y0, x1, y1 = [int(v) for v in box]
    rect = dlib.rectangle(x0, y0, x1, y1)
    return np.asarray(net.compute_face_descriptor(image, shape(image, rect)))


def test_background_outside_dilated_masks_is_unchanged(render_result, astronaut_scene):
    result, method = render_result
    region = astronaut_scene.regions()[0]
    allowed = dilate(region.mask, method.margin_for(region.mask))
    assert np.array_equal(result.image[~allowed], astronaut_scene.image[~allowed])
    assert result.regions[0].outcome == Outcome.REPLACED


def test_original_face_no_longer_matches(render_result, astronaut_scene, astronaut_face_box):
    result, _ = render_result
    original = dlib_descriptor(astronaut_scene.image, astronaut_face_box)
    # Sanity: the recognizer matches the original face against itself after a mild change.
    jittered = np.clip(astronaut_scene.image.astype(int) + 6, 0, 255).astype(np.uint8)
    assert np.linalg.norm(dlib_descriptor(jittered, astronaut_face_box) - original) < 0.6
    after = dlib_descriptor(result.image, astronaut_face_box)
    assert np.linalg.norm(after - original) > 0.6  # dlib's standard match threshold


def test_avatar_follows_the_silhouette_and_pose(render_result, astronaut_scene, astronaut_person):
    from understudy.perception.pose import MediaPipePose

    result, _ = render_result
    audit = result.regions[0].attributes
    assert audit["silhouette_iou"] > 0.65
    assert audit["fit_error_px"] < 25
    h, w = result.image.shape[:2]
    pose = MediaPipePose()
    try:
        est = pose(result.image, np.array([0, 0, w, h], np.float32))
    finally:
        pose.close()
    assert est is not None, "no body detected on the render"
    before = astronaut_person.keypoints2d
    seen = [i for i in (0, 2, 5, 7, 8, 11, 12, 13, 14) if before[i, 2] > 0.5]
    err = np.linalg.norm(est.keypoints2d[seen, :2] - before[seen, :2], axis=1)
    height = astronaut_person.box[3] - astronaut_person.box[1]
    assert np.median(err) < 0.06 * height, err


def test_render_mode_is_said_once_and_audited(render_result):
    result, method = render_result
    assert result.notes == [RENDER_NOTE]
    audit = result.regions[0].attributes
    assert audit["mode"] == "render"
    assert audit["attributes"]["gender"] == "male" and audit["attributes"]["age"] == "50s"
    assert audit["outfit"]["top"] and audit["seed"] >= 0
    assert method.timings["fit"] > 0 and method.timings["render"] > 0


def test_seed_makes_output_reproducible(body, astronaut, astronaut_person):
    options = RefSDOptions(attributes="random", fit_steps=10)
    images, audits = [], []
    for seed in (3, 3, 4):
        method = RefSD(options, body=body)
        scene = make_scene(astronaut, [astronaut_person], seed=seed)
        result = run_guarded(method, scene, np.random.default_rng(seed))
        method.close()
        images.append(result.image)
        audits.append(result.regions[0].attributes)
    assert np.array_equal(images[0], images[1]) and audits[0] == audits[1]
    assert not np.array_equal(images[0], images[2])
    assert audits[0]["attributes"] != audits[2]["attributes"] \
        or audits[0]["outfit"] != audits[2]["outfit"]


def test_person_without_landmarks_fails_closed(body, astronaut, astronaut_person):
    bare = Person(astronaut_person.box, 0.9, mask=astronaut_person.mask)  # no keypoints
    scene = make_scene(astronaut, [bare])
    method = RefSD(RefSDOptions(fit_steps=5), body=body)
    result = run_guarded(method, scene, np.random.default_rng(0))
    method.close()
    record = result.regions[0]
    assert record.outcome == Outcome.MASKED and "landmarks" in record.reason
    assert (result.image[bare.mask] == 0).all()


def test_avatar_is_dressed(body):
    """Never nude: every torso, hip and thigh vertex is covered by a garment, whatever the
    outfit drawn."""
    from understudy.attributes import Attributes
    from understudy.body.clothing import SKIN, sample_outfit, vertex_regions

    rest = body.anny(phenotype_kwargs={"age": 0.8})
    verts = rest["rest_vertices"][0].numpy()
    heads = rest["rest_bone_heads"][0].numpy()
    names = np.asarray(body.bone_labels, dtype=object)[body.dominant_bone]
    trunk = np.array([str(n).startswith(("spine", "pelvis", "root", "upperleg01"))
                      for n in names])
    trunk &= verts[:, 2] < heads[body.bone("neck01")][2] - 0.02
    for seed in range(12):
        rng = np.random.default_rng(seed)
        gender = ("female", "male")[seed % 2]
        outfit = sample_outfit(Attributes(gender=gender), rng)
        labels = vertex_regions(body, verts, heads, outfit)
        assert (labels[trunk] != SKIN).mean() > 0.99, outfit
