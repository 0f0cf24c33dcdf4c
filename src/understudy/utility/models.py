"""The small models of the utility protocol: a ResNet classifier and a CenterNet detector.

The backbone is ResNet (He et al. 2016) with torchvision's parameter names, so a user's
``resnet18`` ImageNet state dict (``resnet18-f37072fd.pth``) loads into ``resnet18`` as a
pretrained backbone without torchvision installed. ``resnet-mini`` (one block per stage,
widths 16-128, ~0.3 M parameters) is the default from scratch: it trains on the CPU in
seconds on small data. The detector is CenterNet (Zhou et al. 2019, "Objects as Points"):
one heatmap of person centres, box size and centre offset, at stride 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from understudy.errors import UsageError

ARCHS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # name: (blocks per stage, widths)
    "resnet-mini": ((1, 1, 1, 1), (16, 32, 64, 128)),
    "resnet10": ((1, 1, 1, 1), (64, 128, 256, 512)),
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512)),
}
# ImageNet statistics: what a pretrained backbone expects; harmless from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet trunk; ``forward`` returns the four stage outputs (strides 4, 8, 16, 32)."""

    def __init__(self, arch: str = "resnet-mini"):
        super().__init__()
        if arch not in ARCHS:
            raise UsageError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
        blocks, widths = ARCHS[arch]
        self.widths = widths
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layers = [BasicBlock(cin if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1)
                      for j in range(n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            cin = w
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x``: (B, 3, H, W) float in [0, 1]."""
        x = (x - self.mean) / self.std
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        return feats


class Classifier(nn.Module):
    """One backbone, one linear head per attribute (multi-task: the same model for all)."""

    def __init__(self, classes: dict[str, list[str]], arch: str = "resnet-mini"):
        super().__init__()
        self.backbone = ResNet(arch)
        self.heads = nn.ModuleDict({_safe(a): nn.Linear(self.backbone.widths[-1], len(v))
                                    for a, v in classes.items()})
        self.attributes = list(classes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feat = self.backbone(x)[-1].mean(dim=(2, 3))
        return [self.heads[_safe(a)](feat) for a in self.attributes]


def _safe(name: str) -> str:
    """ModuleDict keys may not contain dots."""
    return "attr_" + "".join(c if c.isalnum() else "_" for c in name)


class CenterNet(nn.Module):
    """Person centres as a heatmap at stride 4 with a small top-down neck over the trunk."""

    stride = 4

    def __init__(self, arch: str = "resnet-mini", neck: int = 0):
        super().__init__()
        self.backbone = ResNet(arch)
        w = self.backbone.widths
        # Heads run at stride 4, where most of the compute goes: twice the stem's width
        # (32 for resnet-mini, 128 for resnet18) keeps them in proportion to the trunk.
        neck = neck or 2 * w[0]
        self.lateral = nn.ModuleList([nn.Conv2d(c, neck, 1) for c in w[:3]])
        self.smooth = nn.Sequential(nn.Conv2d(neck, neck, 3, padding=1), nn.BatchNorm2d(neck),
                                    nn.ReLU())

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(neck, neck, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(neck, out, 1))

        self.heatmap = head(1)
        self.size = head(2)  # log(w / stride), log(h / stride)
        self.offset = head(2)  # sub-cell centre offset in cells
        # CenterNet's prior: the heatmap starts at sigmoid(-2.19) = 0.1 so the focal loss
        # does not blow up on the first steps.
        nn.init.constant_(self.heatmap[-1].bias, -2.19)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c2, c3, c4, _ = self.backbone(x)
        p = self.lateral[2](c4)
        p = self.lateral[1](c3) + F.interpolate(p, size=c3.shape[-2:], mode="nearest")
        p = self.lateral[0](c2) + F.interpolate(p, size=c2.shape[-2:], mode="nearest")
        p = self.smooth(p)
        return {"heatmap": self.heatmap(p), "size": self.size(p), "offset": self.offset(p)}


@dataclass
class LoadedWeights:
    loaded: int
    skipped: int


def load_backbone(model: nn.Module, path: str | Path) -> LoadedWeights:
    """Load a pretrained trunk: a torchvision ResNet state dict, or one of our checkpoints.

    Only the trunk is taken (``fc`` and heads stay new); tensors whose shapes differ are an
    error that names the architecture the weights fit.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for bad files
        raise UsageError(f"--weights {path}: not a torch state dict ({exc})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise UsageError(f"--weights {path}: expected a state dict of tensors")
    prefixes = ("backbone.", "module.", "model.")
    trunk: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for p in prefixes:
            if key.startswith(p):
                key = key[len(p):]
        if key.startswith(("fc.", "heads.", "head.")) or not torch.is_tensor(value):
            continue
        trunk[key] = value
    own = model.backbone.state_dict()  # type: ignore[union-attr]
    mismatched = [k for k, v in trunk.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        k = mismatched[0]
        raise UsageError(f"--weights {path}: {k} has shape {tuple(trunk[k].shape)}, the model "
                         f"needs {tuple(own[k].shape)}; pick the matching --arch "
                         f"({', '.join(ARCHS)})")
    usable = {k: v for k, v in trunk.items() if k in own}
    if len(usable) < len([k for k in own if not k.endswith("num_batches_tracked")]) // 2:
        raise UsageError(f"--weights {path}: only {len(usable)} of {len(own)} backbone tensors "
                         "match; expected a ResNet state dict with torchvision's names")
    model.backbone.load_state_dict(usable, strict=False)  # type: ignore[union-attr]
    return LoadedWeights(len(usable), len(trunk) - len(usable))


def gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: the largest centre shift that keeps IoU >= min_overlap."""
    a1, b1 = 1.0, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def centernet_targets(boxes: list[torch.Tensor], out_hw: tuple[int, int], stride: int
                      ) -> dict[str, torch.Tensor]:
    """Heatmap (B, 1, h, w) with a Gaussian per box, and size/offset targets at centres."""
    b = len(boxes)
    h, w = out_hw
    heat = torch.zeros(b, 1, h, w)
    size = torch.zeros(b, 2, h, w)
    offset = torch.zeros(b, 2, h, w)
    mask = torch.zeros(b, 1, h, w)
    ys, xs = torch.arange(h).view(-1, 1).float(), torch.arange(w).view(1, -1).float()
    for i, bx in enumerate(boxes):
        for x0, y0, x1, y1 in bx.tolist():
            bw, bh = (x1 - x0) / stride, (y1 - y0) / stride
            if bw <= 0 or bh <= 0:
                continue
            cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sigma = max(0.0, gaussian_radius(bh, bw)) * 2 / 6 + 1e-3
            g = torch.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * max(sigma, 1 / 3) ** 2))
            heat[i, 0] = torch.maximum(heat[i, 0], g)
            size[i, :, iy, ix] = torch.tensor([math.log(bw), math.log(bh)])
            offset[i, :, iy, ix] = torch.tensor([cx - ix, cy - iy])
            mask[i, 0, iy, ix] = 1.0
    return {"heatmap": heat, "size": size, "offset": offset, "mask": mask}


def centernet_loss(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Penalty-reduced focal loss on the heatmap (alpha 2, beta 4) + L1 on size and offset."""
    pred = torch.sigmoid(out["heatmap"]).clamp(1e-4, 1 - 1e-4)
    gt = target["heatmap"]
    pos = gt.eq(1).float()
    neg = 1.0 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    focal = -(pos_loss.sum() + neg_loss.sum()) / n
    mask = target["mask"]
    m = mask.sum().clamp(min=1.0)
    size = (F.l1_loss(out["size"], target["size"], reduction="none") * mask).sum() / m
    off = (F.l1_loss(out["offset"], target["offset"], reduction="none") * mask).sum() / m
    return focal + 0.5 * size + off


@torch.no_grad()
def centernet_decode(out: dict[str, torch.Tensor], stride: int, top_k: int = 100
                     ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per image (boxes (K, 4) in input pixels, scores (K,)) from local heatmap peaks."""
    heat = torch.sigmoid(out["heatmap"])
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat).float()
    b, _, h, w = heat.shape
    results = []
    for i in range(b):
        scores, idx = peaks[i, 0].flatten().topk(min(top_k, h * w))
        ys, xs = (idx // w).float(), (idx % w).float()
        off = out["offset"][i].flatten(1)[:, idx]
        size = out["size"][i].flatten(1)[:, idx].clamp(-4, 6).exp()
        cx, cy = (xs + off[0]) * stride, (ys + off[1]) * stride
        bw, bh = size[0] * stride, size[1] * stride
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
        results.append((boxes, scores))
    return results
