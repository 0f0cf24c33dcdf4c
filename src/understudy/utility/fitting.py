"""Training and testing one model: deterministic batches, a checkpoint after every epoch.

Batch order and augmentation come from a generator seeded by (seed, stage, epoch), so a run
resumed from its epoch-k checkpoint takes exactly the steps an uninterrupted run would.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.nn import functional as F

from understudy.utility.data import Split
from understudy.utility.metrics import F1_PREFIX, accuracy, detection_metrics, macro_f1
from understudy.utility.models import centernet_decode, centernet_loss, centernet_targets


class Reporter(Protocol):
    """What the protocol tells a person while it runs (progress bars in the CLI)."""

    def start(self, label: str, total: int) -> None: ...
    def advance(self, steps: int = 1) -> None: ...
    def finish(self, label: str, metrics: dict[str, float], seconds: float, resumed: bool) -> None: ...


class SilentReporter:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def finish(self, label: str, metrics: dict[str, float], seconds: float, resumed: bool) -> None:
        pass


@dataclass
class Schedule:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: bool


def batches_per_epoch(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 else 0)  # BatchNorm needs two samples


def _augment(x: torch.Tensor, g: torch.Generator, boxes: list[torch.Tensor] | None
             ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """Horizontal flips and mild brightness/contrast changes (person labels survive both)."""
    b, _, _, w = x.shape
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if boxes is not None:
        boxes = [torch.stack([w - bx[:, 2], bx[:, 1], w - bx[:, 0], bx[:, 3]], dim=1)
                 if f and len(bx) else bx for bx, f in zip(boxes, flip.tolist())]
    gain = 1.0 + 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    bias = 0.1 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    return (x * gain + bias).clamp(0, 1), boxes


def _loss(model: torch.nn.Module, task: str, x: torch.Tensor, split: Split, idx: torch.Tensor,
          boxes: list[torch.Tensor] | None, device: torch.device) -> torch.Tensor:
    if task == "classify":
        y = split.labels[idx].to(device)
        outs = model(x)
        losses = [F.cross_entropy(o, y[:, j], ignore_index=-1) for j, o in enumerate(outs)
                  if (y[:, j] >= 0).any()]
        return torch.stack(losses).sum() if losses else outs[0].sum() * 0.0
    out = model(x)
    target = centernet_targets(boxes or [], tuple(out["heatmap"].shape[-2:]), model.stride)
    return centernet_loss(out, {k: v.to(device) for k, v in target.items()})


def _save(path: Path, state: dict[str, Any]) -> None:
    """Atomic: a crash while writing leaves the previous checkpoint intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(model: torch.nn.Module, task: str, split: Split, schedule: Schedule, seed: int,
          stage: int, checkpoint: Path, fingerprint: str, device: torch.device,
          reporter: Reporter) -> bool:
    """Train in place, resuming from ``checkpoint`` when it holds this run; True if resumed."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr,
                                  weight_decay=schedule.weight_decay)
    per_epoch = batches_per_epoch(len(split), schedule.batch_size)
    total = max(1, per_epoch * schedule.epochs)
    start = 0
    resumed = False
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state.get("fingerprint") == fingerprint and state.get("stage") == stage:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start = int(state["epoch"])
            resumed = True
    reporter.advance(start * per_epoch)
    model.train()
    for epoch in range(start, schedule.epochs):
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, stage, epoch])
                                              .generate_state(1)[0]))
        order = torch.randperm(len(split), generator=g)
        for b in range(per_epoch):
            idx = order[b * schedule.batch_size:(b + 1) * schedule.batch_size]
            step = epoch * per_epoch + b
            lr = schedule.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = split.images[idx].float() / 255.0
            boxes = [torch.from_numpy(split.boxes[i]) for i in idx.tolist()] if task == "detect" else None
            if schedule.augment:
                x, boxes = _augment(x, g, boxes)
            loss = _loss(model, task, x.to(device), split, idx, boxes, device)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss {loss.item()}) at epoch "
                                         f"{epoch + 1}; lower the learning rate (--lr)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            reporter.advance(1)
        _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "epoch": epoch + 1, "stage": stage, "fingerprint": fingerprint})
    return resumed


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: str, split: Split, attributes: list[str],
             device: torch.device, batch_size: int = 64) -> dict[str, float]:
    """Accuracy and macro-F1 per attribute (and their means), or mAP@[.5:.95] / AP50 /
    recall50 on ``split``."""
    model.eval()
    preds: list[np.ndarray] = []
    n_classes: list[int] = []
    dets: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, len(split), batch_size):
        x = split.images[start:start + batch_size].float().to(device) / 255.0
        if task == "classify":
            outs = model(x)
            n_classes = [int(o.shape[1]) for o in outs]
            preds.append(np.stack([o.argmax(1).cpu().numpy() for o in outs], axis=1))
        else:
            for boxes, scores in centernet_decode(model(x), model.stride):
                dets.append((boxes.cpu().numpy(), scores.cpu().numpy()))
    model.train()
    if task == "detect":
        return detection_metrics(dets, split.boxes or [])
    pred = np.concatenate(preds)
    labels = split.labels.numpy()
    acc = {a: accuracy(pred[:, j], labels[:, j]) for j, a in enumerate(attributes)}
    f1 = {a: macro_f1(pred[:, j], labels[:, j], n_classes[j]) for j, a in enumerate(attributes)}
    out: dict[str, float] = {}
    for name, values in (("", acc), (F1_PREFIX, f1)):
        known = [v for v in values.values() if v == v]
        out.update({name + a: v for a, v in values.items()})
        out[name + "mean"] = float(np.mean(known)) if known else float("nan")
    return out
