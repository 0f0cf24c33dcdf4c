"""Detection end to end through the CLI, metrics on known boxes, and the teaching errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from understudy.cli import main
from understudy.errors import UsageError
from understudy.utility import UtilityOptions, run_utility
from understudy.utility.metrics import average_precision, detection_metrics


def test_average_precision_on_known_cases():
    gt = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)]
    perfect = [(gt[0].copy(), np.array([0.9, 0.8]))]
    assert detection_metrics(perfect, gt) == {"mAP@[.5:.95]": 1.0, "AP50": 1.0, "recall50": 1.0}
    # one hit, one miss ranked first: precision 1/2 at recall 1/2
    half = [(np.array([[50, 50, 60, 60], [0, 0, 10, 10]], np.float32), np.array([0.9, 0.5]))]
    ap, recall = average_precision(half, gt, 0.5)
    assert recall == 0.5 and ap == pytest.approx(0.5 * 51 / 101, abs=1e-6)
    # a box shifted to IoU 0.6 counts at 0.5, not at 0.75
    shifted = [(np.array([[2.5, 0, 12.5, 10]], np.float32), np.array([0.9]))]
    assert average_precision(shifted, gt[:1] and [gt[0][:1]], 0.5)[0] == 1.0
    assert average_precision(shifted, [gt[0][:1]], 0.75)[0] == 0.0
    # duplicates of one person are false positives
    dup = [(np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32), np.array([0.9, 0.8]))]
    assert average_precision(dup, [gt[0][:1]], 0.5)[0] == 1.0  # FP after full recall


def test_detect_four_configurations_via_cli(detect_data, tmp_path, capsys):
    out = tmp_path / "det"
    args = ["utility", "--task", "detect", "--real", str(detect_data["real"]),
            "--synthetic", str(detect_data["synthetic"]), "--labels", str(detect_data["labels"]),
            "--test", str(detect_data["test"]), "--test-labels", str(detect_data["test_labels"]),
            "-o", str(out), "--seeds", "0", "--epochs", "12", "--batch-size", "8", "--image-size", "64",
            "--shuffled-control", "--quiet"]
    assert main(args) == 0
    report = json.loads((out / "utility.json").read_text())
    configs = report["configurations"]
    print(json.dumps(report["table"], indent=1, ensure_ascii=False))
    assert list(configs) == ["S", "R", "S+R", "S→R", "R-shuffled"]
    for name in ("S", "R", "S+R", "S→R"):
        assert set(configs[name]["mean"]) == {"mAP@[.5:.95]", "AP50", "recall50"}
    assert report["data"]["test_people"] > 16
    # the detector trained on real boxes finds the people; boxes of other images teach nothing
    assert configs["R"]["mean"]["AP50"] > 0.5
    assert configs["R"]["mean"]["AP50"] > configs["R-shuffled"]["mean"]["AP50"] + 0.25
    md = (out / "utility.md").read_text()
    assert "AP50" in md and "mAP@[.5:.95]" in md


def test_label_errors_teach(classify_data, detect_data, tmp_path):
    d = classify_data
    opts = UtilityOptions(seeds=(0,), epochs=1, image_size=32, configs=("R",))

    def run(labels, **kw):
        return run_utility(kw.get("real", d["real"]), d["synthetic"], d["test"], labels,
                           tmp_path / "o", kw.get("options", opts))

    bad = tmp_path / "bad.csv"
    bad.write_text("file,source\nx.png,cat\n")
    with pytest.raises(UsageError, match="'image' column"):
        run(bad)
    bad.write_text("image,source\nnothere.png,cat\nalso.png,dog\n")
    with pytest.raises(UsageError, match="none of the .* real images has a label"):
        run(bad)
    with pytest.raises(UsageError, match="COCO detection data; use --task detect"):
        run(detect_data["labels"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="--real .*no images.*empty"):
        run(d["labels"], real=empty)
    one_value = tmp_path / "one.csv"
    rows = list(csv.DictReader(open(d["labels"])))
    with one_value.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["image", "source"])
        w.writeheader()
        w.writerows({"image": r["image"], "source": "same"} for r in rows)
    with pytest.raises(UsageError, match="at least two values"):
        run(one_value)
    box = tmp_path / "box.csv"
    box.write_text("image,x0,y0,source\na.png,1,2,cat\n")
    with pytest.raises(UsageError, match="needs all of x0, y0, x1, y1"):
        run(box)
    with pytest.raises(UsageError, match="--task detect needs COCO"):
        run_utility(d["real"], d["synthetic"], d["test"], d["labels"], tmp_path / "o",
                    UtilityOptions(task="detect", seeds=(0,), epochs=1))
    with pytest.raises(UsageError, match="image_size must be a multiple of 32"):
        UtilityOptions(image_size=50)
    with pytest.raises(UsageError, match="configs must be among"):
        UtilityOptions(configs=("X",))
    assert main(["utility", "--task", "classify", "--real", str(d["real"]), "--synthetic",
                 str(d["synthetic"]), "--test", str(d["test"]), "--labels", str(d["labels"]),
                 "-o", str(tmp_path / "c"), "--configs", "S,Q"]) == 2


def test_person_boxes_are_cropped(tmp_path):
    """Per-person labels: two people in one image, each crop labelled on its own."""
    from PIL import Image

    from understudy.utility.data import (attribute_classes, load_classify,
                                         match_attribute_records, read_attribute_labels)

    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 40:] = 255  # the right person is white
    (tmp_path / "imgs").mkdir()
    Image.fromarray(img).save(tmp_path / "imgs" / "two.png")
    (tmp_path / "l.csv").write_text("image,x0,y0,x1,y1,shirt\n"
                                    "two.png,0,0,40,40,dark\ntwo.png,40,0,80,40,light\n")
    rows = read_attribute_labels(tmp_path / "l.csv")
    records, unmatched = match_attribute_records(rows, {"two.png": tmp_path / "imgs" / "two.png"},
                                                 "real", "--labels")
    split = load_classify("real", records, attribute_classes(records), 32)
    assert unmatched == 0 and len(split) == 2
    means = split.images.float().mean(dim=(1, 2, 3))
    assert means[0] < 60 and means[1] > 190  # 10 % context leaks a little of the neighbour
    assert split.labels[:, 0].tolist() == [0, 1]


def test_pretrained_backbone_weights(tmp_path):
    """A torchvision-named ResNet state dict loads into the trunk; a wrong arch teaches."""
    import torch

    from understudy.utility.models import Classifier, ResNet, load_backbone

    torch.manual_seed(3)
    donor = ResNet("resnet10")
    state = {k: v for k, v in donor.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)  # torchvision's head is ignored
    torch.save(state, tmp_path / "r10.pth")
    model = Classifier({"a": ["x", "y"]}, "resnet10")
    loaded = load_backbone(model, tmp_path / "r10.pth")
    assert loaded.loaded == len(state) - 1
    assert torch.equal(model.backbone.layer3[0].conv1.weight, donor.layer3[0].conv1.weight)
    with pytest.raises(UsageError, match="pick the matching --arch"):
        load_backbone(Classifier({"a": ["x", "y"]}, "resnet-mini"), tmp_path / "r10.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="not a torch state dict"):
        load_backbone(model, tmp_path / "junk.pth")
