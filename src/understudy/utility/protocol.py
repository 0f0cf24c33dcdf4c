"""The utility protocol (HumanGenAI psi): S, R, S+R and S→R, tested on held-out real data.

* S: train on the synthetic (pseudonymized) images only;
* R: train on the real images only;
* S+R: train on both at once (same epochs over the union);
* S→R: start from the S model of the same seed and fine-tune on R.

Each (configuration, seed) starts from the same initial weights for a given seed, so
differences between configurations come from the data. The optional control trains R with
its labels shuffled across images: it must score near chance, or the test leaks.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from understudy.errors import UsageError
from understudy.utility.data import (Split, attribute_classes, find_images, load_classify,
                                     load_detect, match_attribute_records, match_coco,
                                     read_attribute_labels, read_coco)
from understudy.utility.fitting import Reporter, Schedule, SilentReporter, batches_per_epoch

CONFIGS = ("S", "R", "S+R", "S→R")
CONTROL = "R-shuffled"
ALIASES = {"s": "S", "r": "R", "s+r": "S+R", "sr": "S+R", "s->r": "S→R", "s→r": "S→R",
           "s2r": "S→R", "r-shuffled": CONTROL}
DESCRIPTIONS = {"S": "synthetic", "R": "real", "S+R": "synthetic + real",
                "S→R": "synthetic, then fine-tuned on real", CONTROL: "real, labels shuffled (control)"}
SLUGS = {"S": "S", "R": "R", "S+R": "S+R", "S→R": "S-to-R", CONTROL: "R-shuffled"}


def parse_configs(text: str) -> tuple[str, ...]:
    out = []
    for part in text.split(","):
        key = ALIASES.get(part.strip().lower())
        if key is None:
            raise UsageError(f"--configs: unknown configuration {part.strip()!r}; use "
                             "S, R, S+R, S->R (comma-separated)")
        out.append(key)
    return tuple(dict.fromkeys(out))


@dataclass
class UtilityOptions:
    """Everything that decides a result; stored in utility.json."""

    task: str = "classify"
    configs: tuple[str, ...] = CONFIGS
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 15
    finetune_epochs: int = 0  # S→R's fine-tuning on R; 0 = same as epochs
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    image_size: int = 0  # 0: 64 for classify, 128 for detect
    arch: str = "auto"  # auto: resnet-mini from scratch, resnet18 with --weights
    weights: str | None = None
    device: str = "auto"
    shuffled_control: bool = False
    category: str | None = None  # detection: COCO category name (default: person)
    augment: bool = True

    def __post_init__(self) -> None:
        from understudy.utility.models import ARCHS

        if self.task not in ("classify", "detect"):
            raise UsageError(f"--task must be 'classify' or 'detect', got {self.task!r}")
        self.configs = tuple(self.configs)
        bad = [c for c in self.configs if c not in CONFIGS]
        if bad or not self.configs:
            raise UsageError(f"configs must be among {CONFIGS}, got {self.configs}")
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"seeds must be distinct and at least one, got {self.seeds}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.finetune_epochs < 0:
            raise UsageError(f"finetune_epochs must be >= 0, got {self.finetune_epochs}")
        if not 0 < self.lr < 1:
            raise UsageError(f"lr must be within (0, 1), got {self.lr}")
        if self.image_size == 0:
            self.image_size = 64 if self.task == "classify" else 128
        if not 32 <= self.image_size <= 1024 or self.image_size % 32:
            raise UsageError(f"image_size must be a multiple of 32 within 32-1024 (the "
                             f"network downsamples by 32), got {self.image_size}")
        if self.arch == "auto":
            self.arch = "resnet18" if self.weights else "resnet-mini"
        if self.arch not in ARCHS:
            raise UsageError(f"arch must be 'auto' or one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise UsageError(f"device must be auto, cpu, cuda[:N] or mps, got {self.device!r}")


@dataclass
class Data:
    real: Split
    synthetic: Split
    test: Split
    attributes: list[str] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)


def load_data(real: str | Path, synthetic: str | Path, test: str | Path, labels: str | Path,
              options: UtilityOptions, synthetic_labels: str | Path | None = None,
              test_labels: str | Path | None = None) -> Data:
    """Read the three splits and their labels; errors name the flag and what was found."""
    folders = {"real": (real, "--real"), "synthetic": (synthetic, "--synthetic"),
               "test": (test, "--test")}
    label_files = {"real": (labels, "--labels"),
                   "synthetic": (synthetic_labels or labels,
                                 "--synthetic-labels" if synthetic_labels else "--labels"),
                   "test": (test_labels or labels, "--test-labels" if test_labels else "--labels")}
    images = {k: find_images(p, flag) for k, (p, flag) in folders.items()}
    if options.task == "classify":
        parsed: dict[Path, list] = {}
        records = {}
        for split, (path, flag) in label_files.items():
            path = Path(path)
            if path not in parsed:
                parsed[path] = read_attribute_labels(path, flag)
            records[split] = match_attribute_records(parsed[path], images[split], split,
                                                     f"{flag} {path} ({split} split)")
        classes = attribute_classes(records["real"][0] + records["synthetic"][0])
        splits = {k: load_classify(k, recs, classes, options.image_size, unmatched)
                  for k, (recs, unmatched) in records.items()}
        for k, s in splits.items():
            if not (s.labels >= 0).any():
                raise UsageError(f"the {k} split has no label of any trained attribute "
                                 f"({', '.join(classes)})")
        return Data(splits["real"], splits["synthetic"], splits["test"], list(classes), classes)
    coco_cache: dict[Path, dict] = {}
    splits = {}
    for split, (path, flag) in label_files.items():
        path = Path(path)
        if path not in coco_cache:
            coco_cache[path] = read_coco(path, flag, options.category)
        recs, unmatched = match_coco(coco_cache[path], images[split], split,
                                     f"{flag} {path} ({split} split)")
        splits[split] = load_detect(split, recs, options.image_size, unmatched)
    if sum(len(b) for b in splits["test"].boxes or []) == 0:
        raise UsageError("the test split has no person boxes: AP and recall are undefined")
    return Data(splits["real"], splits["synthetic"], splits["test"])


def _concat(name: str, a: Split, b: Split) -> Split:
    import torch

    return Split(name, torch.cat([a.images, b.images]),
                 labels=None if a.labels is None else torch.cat([a.labels, b.labels]),
                 boxes=None if a.boxes is None else a.boxes + b.boxes,
                 sources=a.sources + b.sources)


def _shuffled(split: Split, seed: int) -> Split:
    """Labels permuted across images (each attribute on its own): no image-label link left."""
    import torch

    rng = np.random.default_rng([seed, 7919])
    if split.labels is not None:
        cols = [split.labels[torch.from_numpy(rng.permutation(len(split))), j]
                for j in range(split.labels.shape[1])]
        return Split(split.name, split.images, labels=torch.stack(cols, dim=1),
                     sources=split.sources)
    order = rng.permutation(len(split))
    return Split(split.name, split.images, boxes=[split.boxes[i] for i in order],
                 sources=split.sources)


def _hash_split(h: "hashlib._Hash", split: Split) -> None:
    h.update(split.name.encode())
    h.update(split.images.numpy().tobytes())
    if split.labels is not None:
        h.update(split.labels.numpy().tobytes())
    for b in split.boxes or []:
        h.update(np.ascontiguousarray(b).tobytes() + b"|")


def fingerprint(data: Data, options: UtilityOptions) -> str:
    """What a stored run must agree on to be reused: the data and the training options."""
    h = hashlib.sha256()
    opts = asdict(options)
    for key in ("configs", "seeds", "device", "shuffled_control"):
        opts.pop(key)
    h.update(json.dumps({"options": opts, "classes": data.classes}, sort_keys=True).encode())
    if options.weights:
        h.update(Path(options.weights).read_bytes())
    for split in (data.real, data.synthetic, data.test):
        _hash_split(h, split)
    return h.hexdigest()[:16]


def pick_device(name: str) -> Any:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device here; use --device auto or cpu")
    return torch.device(name)


def run_protocol(data: Data, options: UtilityOptions, out_dir: str | Path,
                 reporter: Reporter | None = None, restart: bool = False) -> dict[str, Any]:
    """Train and test every (configuration, seed); reuse finished runs; return the results."""
    import torch

    from understudy.utility.models import CenterNet, Classifier, load_backbone
    from understudy.utility.fitting import evaluate, train

    reporter = reporter or SilentReporter()
    out = Path(out_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(options.device)
    fp = fingerprint(data, options)
    stamp = runs_dir / "fingerprint.txt"
    if stamp.is_file() and stamp.read_text().strip() != fp:
        if not restart:
            raise UsageError(f"{out} holds runs made with other data or options; use another "
                             "-o folder, or --restart to discard them")
        for f in runs_dir.iterdir():
            f.unlink()
    stamp.write_text(fp + "\n")

    def new_model(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # same initial weights for every configuration of a seed
        model = (Classifier(data.classes, options.arch) if options.task == "classify"
                 else CenterNet(options.arch))
        if options.weights:
            load_backbone(model, options.weights)
        return model.to(device)

    train_sets = {"S": data.synthetic, "R": data.real,
                  "S+R": _concat("synthetic+real", data.synthetic, data.real)}
    schedule = Schedule(options.epochs, options.batch_size, options.lr, options.weight_decay,
                        options.augment)
    finetune = Schedule(options.finetune_epochs or options.epochs, options.batch_size,
                        options.lr, options.weight_decay, options.augment)

    def trained(config: str, seed: int, label: str) -> tuple[torch.nn.Module, bool]:
        """The final model of a plain configuration (S, R, S+R, control) for a seed."""
        split = _shuffled(data.real, seed) if config == CONTROL else train_sets[config]
        model = new_model(seed)
        total = batches_per_epoch(len(split), schedule.batch_size) * schedule.epochs
        reporter.start(label, total)
        resumed = train(model, options.task, split, schedule, seed, 0,
                        runs_dir / f"{SLUGS[config]}_seed{seed}.pt", fp, device, reporter)
        return model, resumed

    configs = list(options.configs) + ([CONTROL] if options.shuffled_control else [])
    results: dict[str, dict[str, Any]] = {c: {} for c in configs}
    for seed in options.seeds:
        for config in configs:
            result_file = runs_dir / f"{SLUGS[config]}_seed{seed}.json"
            label = f"{config} seed {seed}"
            if result_file.is_file():
                stored = json.loads(result_file.read_text())
                if stored.get("fingerprint") == fp:
                    results[config][str(seed)] = stored["metrics"]
                    reporter.finish(label, stored["metrics"], stored.get("seconds", 0.0), True)
                    continue
            t0 = time.perf_counter()
            if config == "S→R":
                model, resumed = trained("S", seed, f"S→R seed {seed}: pre-training on S")
                per_epoch = batches_per_epoch(len(data.real), finetune.batch_size)
                reporter.start(f"S→R seed {seed}: fine-tuning on R", per_epoch * finetune.epochs)
                resumed = train(model, options.task, data.real, finetune, seed, 1,
                                runs_dir / f"{SLUGS[config]}_seed{seed}.pt", fp, device,
                                reporter) and resumed
            else:
                model, resumed = trained(config, seed, label)
            metrics = evaluate(model, options.task, data.test, data.attributes, device)
            seconds = time.perf_counter() - t0
            result_file.write_text(json.dumps({"fingerprint": fp, "config": config, "seed": seed,
                                               "metrics": metrics, "seconds": seconds}, indent=1))
            results[config][str(seed)] = metrics
            reporter.finish(label, metrics, seconds, resumed)
    return results
