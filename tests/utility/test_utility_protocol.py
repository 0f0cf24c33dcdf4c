"""The four configurations end to end on small real data, the shuffled-label control,
resume, reproducibility and the report files."""

from __future__ import annotations

import json

import pytest

from understudy.utility import CONTROL, UtilityOptions, run_utility

FAST = dict(epochs=12, image_size=32, batch_size=32)


@pytest.fixture(scope="module")
def classify_run(classify_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("classify_out")
    options = UtilityOptions(seeds=(0, 1), shuffled_control=True, **FAST)
    report = run_utility(classify_data["real"], classify_data["synthetic"], classify_data["test"],
                         classify_data["labels"], out, options)
    return out, report, options


def test_four_configurations_and_table(classify_run):
    out, report, _ = classify_run
    print(json.dumps(report["table"], indent=1, ensure_ascii=False))
    configs = report["configurations"]
    assert list(configs) == ["S", "R", "S+R", "S→R", CONTROL]
    for name in ("S", "R", "S+R", "S→R"):
        assert set(configs[name]["seeds"]) == {"0", "1"}
        assert set(configs[name]["mean"]) == {"source", "tone", "mean", "macro-F1: source",
                                              "macro-F1: tone", "macro-F1: mean"}
    # the real models learn: well above chance on held-out real crops
    chance = report["chance"]["source"]
    assert chance["uniform"] == 0.25
    for name in ("R", "S+R", "S→R"):
        assert configs[name]["mean"]["source"] > 0.6, name
        assert configs[name]["mean"]["tone"] > 0.8, name
        assert configs[name]["mean"]["macro-F1: source"] > 0.5, name
    for f in ("utility.json", "utility.md", "utility.html"):
        assert (out / f).stat().st_size > 0
    md = (out / "utility.md").read_text()
    assert "S→R" in md and "accuracy: source" in md and "macro-F1: source" in md and "±" in md
    assert len(report["table"]) == 5
    from understudy.evaluation.report import utility_table  # the evaluate report shows it

    table = utility_table(json.loads((out / "utility.json").read_text()))
    assert table is not None and table["rows"][0][0] == "S"


def test_shuffled_labels_score_near_chance(classify_run):
    _, report, _ = classify_run
    control = report["configurations"][CONTROL]["mean"]
    real = report["configurations"]["R"]["mean"]
    source_chance = report["chance"]["source"]["majority"]
    assert control["source"] < source_chance + 0.15
    assert control["tone"] < report["chance"]["tone"]["majority"] + 0.2
    assert real["source"] - control["source"] > 0.3
    assert real["macro-F1: source"] - control["macro-F1: source"] > 0.3


def test_resume_reuses_runs_and_is_reproducible(classify_run, classify_data):
    out, report, options = classify_run
    again = run_utility(classify_data["real"], classify_data["synthetic"], classify_data["test"],
                        classify_data["labels"], out, options)
    assert again["configurations"] == report["configurations"]
    # a run cut in the middle resumes from its epoch checkpoint to the same result
    runs = out / "runs"
    (runs / "R_seed1.json").unlink()
    import torch

    state = torch.load(runs / "R_seed1.pt", weights_only=False)
    assert state["epoch"] == options.epochs
    # R seed 1 again in a fresh folder, killed after 5 epochs, then resumed by the protocol
    fresh = out.parent / "fresh"
    half = UtilityOptions(**{**options.__dict__, "configs": ("R",), "seeds": (1,),
                             "shuffled_control": False})
    from understudy.utility.protocol import fingerprint, load_data

    data = load_data(classify_data["real"], classify_data["synthetic"], classify_data["test"],
                     classify_data["labels"], half)
    from understudy.utility import protocol
    from understudy.utility.fitting import Schedule

    fp = fingerprint(data, half)
    (fresh / "runs").mkdir(parents=True)
    (fresh / "runs" / "fingerprint.txt").write_text(fp + "\n")
    torch.manual_seed(1)
    from understudy.utility.models import Classifier

    model = Classifier(data.classes, half.arch)
    # train 5 of the 12 epochs, leaving the epoch-5 checkpoint, as a killed run would
    full = Schedule(half.epochs, half.batch_size, half.lr, half.weight_decay, half.augment)
    ckpt = fresh / "runs" / "R_seed1.pt"
    _train_epochs(model, data, full, fp, ckpt, stop_after=5)
    assert torch.load(ckpt, weights_only=False)["epoch"] == 5
    resumed = protocol.run_protocol(data, half, fresh)
    assert resumed["R"]["1"] == report["configurations"]["R"]["seeds"]["1"]


def _train_epochs(model, data, schedule, fp, ckpt, stop_after):
    """Train the first ``stop_after`` epochs of ``schedule`` (then 'crash')."""
    import torch

    from understudy.utility import fitting as train_module

    class Crash(Exception):
        pass

    saved = train_module._save
    calls = {"n": 0}

    def save_then_maybe_crash(path, state):
        saved(path, state)
        calls["n"] += 1
        if calls["n"] == stop_after:
            raise Crash

    train_module._save = save_then_maybe_crash
    try:
        with pytest.raises(Crash):
            train_module.train(model, "classify", data.real, schedule, 1, 0, ckpt, fp,
                               torch.device("cpu"), train_module.SilentReporter())
    finally:
        train_module._save = saved


def test_changed_data_needs_restart(classify_run, classify_data):
    from understudy.errors import UsageError

    out, _, options = classify_run
    other = UtilityOptions(**{**options.__dict__, "lr": options.lr / 2})
    with pytest.raises(UsageError, match="other data or options"):
        run_utility(classify_data["real"], classify_data["synthetic"], classify_data["test"],
                    classify_data["labels"], out, other)
