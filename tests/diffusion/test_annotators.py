"""Control maps: OpenPose convention from our keypoints, Canny, segmentation, normals."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.diffusion import annotators as ann
from understudy.errors import UsageError
from understudy.scene import Frame, Person, Scene


def standing_person(h=200, w=200, fmt="mediapipe33"):
    """A front-facing figure: subject's right side on image left."""
    kp = np.zeros((33, 3), np.float32)
    pts = {0: (100, 40), 2: (106, 35), 5: (94, 35), 7: (112, 38), 8: (88, 38),
           11: (125, 70), 12: (75, 70), 13: (135, 100), 14: (65, 100), 15: (140, 130),
           16: (60, 130), 23: (115, 130), 24: (85, 130), 25: (117, 165), 26: (83, 165),
           27: (118, 195), 28: (82, 195)}
    for i, (x, y) in pts.items():
        kp[i] = (x, y, 0.9)
    mask = np.zeros((h, w), bool)
    mask[30:198, 60:140] = True
    return Person(np.array([60, 30, 140, 198], np.float32), 0.9, mask=mask, keypoints2d=kp,
                  keypoint_format=fmt)


def scene_with(person, image=None):
    image = np.zeros((200, 200, 3), np.uint8) if image is None else image
    return Scene(Frame(image), people=[person], target="people")


def test_mediapipe_to_openpose18():
    op = ann.openpose18(standing_person())
    np.testing.assert_allclose(op[1, :2], (100, 70))  # neck = shoulders' midpoint
    np.testing.assert_allclose(op[2, :2], (75, 70))  # OpenPose 2 = right shoulder = MP 12
    np.testing.assert_allclose(op[5, :2], (125, 70))  # left shoulder = MP 11
    np.testing.assert_allclose(op[10, :2], (82, 195))  # right ankle = MP 28
    np.testing.assert_allclose(op[14, :2], (94, 35))  # right eye = MP 5
    assert (op[:, 2] > 0).all()


def test_coco_to_openpose18():
    kp = np.zeros((17, 3), np.float32)
    kp[5], kp[6] = (120, 60, 1), (80, 60, 1)
    person = Person(np.zeros(4, np.float32), 1.0, keypoints2d=kp, keypoint_format="coco17")
    op = ann.openpose18(person)
    np.testing.assert_allclose(op[1], (100, 60, 1))
    np.testing.assert_allclose(op[2, :2], (80, 60))


def test_pose_drawing_uses_openpose_colours_at_the_keypoints():
    pose = ann.draw_pose(scene_with(standing_person()))
    assert pose.shape == (200, 200, 3) and pose.dtype == np.uint8
    # keypoint 2 (right shoulder) is drawn in OpenPose colour 2 at its position
    assert tuple(pose[70, 75]) == ann.OPENPOSE_COLORS[2]
    assert pose[5:20, 5:20].max() == 0  # background stays black
    hidden = standing_person()
    hidden.keypoints2d[:, 2] = 0.1  # below MIN_VISIBILITY: nothing is drawn
    assert ann.draw_pose(scene_with(hidden)).max() == 0


def test_canny_and_segmentation():
    image = np.zeros((200, 200, 3), np.uint8)
    image[50:150, 50:150] = 255
    scene = scene_with(standing_person(), image)
    edges = ann.draw_canny(scene)
    assert edges[100, 50].max() == 255 or edges[100, 49].max() == 255
    assert edges[100, 100].max() == 0
    seg = ann.draw_segmentation(scene)
    assert tuple(seg[100, 100]) == ann.ADE20K_PERSON and seg[10, 10].max() == 0


def test_normals_from_depth_ramp_tilt_one_way():
    depth = np.tile(np.linspace(40, 255, 64, dtype=np.float32), (64, 1)).astype(np.uint8)
    normal = ann.depth_to_normal(depth)
    assert normal.shape == (64, 64, 3)
    centre = normal[20:40, 20:40].reshape(-1, 3).astype(int)
    assert (centre[:, 0] < 128).all()  # depth grows to the right: normals lean left
    assert np.ptp(centre[:, 1]) <= 1  # and not up or down


def test_depth_needs_a_model_and_names_are_checked():
    a = ann.Annotators()
    scene = scene_with(standing_person())
    with pytest.raises(UsageError, match="depth_model"):
        a("depth", scene)
    with pytest.raises(UsageError, match="annotator 'lineart' is not known"):
        a("lineart", scene)
    assert a("pose", scene).shape == (200, 200, 3)


def test_depth_and_normal_maps_from_a_tiny_depth_model(tmp_path):
    """A tiny random DPT saved to a folder loads through the real depth-estimation path
    (before issue 15 the local_files_only keyword reached AutoConfig twice: a TypeError)."""
    torch = pytest.importorskip("torch")
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                       intermediate_size=37, image_size=32, patch_size=8,
                       backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                       fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5])
    torch.manual_seed(0)
    model = DPTForDepthEstimation(config).eval()
    with torch.no_grad():  # the head ends in a ReLU: a positive bias keeps random depth alive
        model.head.head[-2].bias.fill_(1.0)
    model.save_pretrained(tmp_path / "dpt")
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False) \
        .save_pretrained(tmp_path / "dpt")
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a = ann.Annotators(str(tmp_path / "dpt"), "cpu")
    scene = scene_with(standing_person(40, 56), image)
    depth, normal = a("depth", scene), a("normal", scene)
    assert depth.shape == normal.shape == (40, 56, 3) and depth.dtype == np.uint8
    assert depth.max() == 255 and depth.min() == 0  # scaled to the full range
