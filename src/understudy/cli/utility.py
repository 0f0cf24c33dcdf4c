"""``understudy utility``: train the same small model on S, R, S+R, S→R; test on real.

    understudy utility --real data/train --synthetic out/refsd/train --labels labels.csv \\
        --task classify --test data/test -o utility/
    understudy utility --real img/ --synthetic anon/ --labels coco.json --task detect \\
        --test img_test/ --test-labels coco_test.json -o utility/ --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from understudy.errors import UsageError


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", required=True, help="folder of real training images")
    parser.add_argument("--synthetic", required=True,
                        help="folder of pseudonymized (synthetic) training images")
    parser.add_argument("--test", required=True, help="folder of held-out real test images")
    parser.add_argument("--labels", required=True,
                        help="classify: CSV/JSON with 'image' and attribute columns (optional "
                             "person box x0,y0,x1,y1); detect: COCO JSON")
    parser.add_argument("--synthetic-labels", help="labels of the synthetic split, when they "
                        "differ (e.g. the prompted attributes); default: --labels")
    parser.add_argument("--test-labels", help="labels of the test split; default: --labels")
    parser.add_argument("--task", choices=("classify", "detect"), required=True)
    parser.add_argument("-o", "--output", required=True, help="report folder (utility.json)")
    parser.add_argument("--configs", default="S,R,S+R,S->R",
                        help="configurations to run (default: S,R,S+R,S->R)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--finetune-epochs", type=int, default=0,
                        help="epochs of S->R's fine-tuning on R (default: --epochs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--image-size", type=int, default=0,
                        help="input size, multiple of 32 (default 64 classify, 128 detect)")
    parser.add_argument("--arch", default="auto",
                        help="resnet-mini, resnet10, resnet18 (auto: resnet-mini, or resnet18 "
                             "with --weights)")
    parser.add_argument("--weights", help="pretrained backbone: a torchvision ResNet state dict "
                                          "(.pth) or an understudy checkpoint")
    parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    parser.add_argument("--category", help="detect: COCO category name (default: person)")
    parser.add_argument("--shuffled-control", action="store_true",
                        help="also train R with shuffled labels: should score near chance")
    parser.add_argument("--no-augment", action="store_true", help="no flips / colour jitter")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--restart", action="store_true",
                        help="discard runs in -o made with other data or options")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


class RichReporter:
    """A progress bar per run and one line per finished run, on stderr."""

    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet
        self.progress: Any = None
        self.task: Any = None

    def start(self, label: str, total: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self._stop()
        if self.quiet:
            return
        self.progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                                 transient=True, disable=not self.console.is_terminal)
        self.progress.start()
        self.task = self.progress.add_task("train", total=total)

    def advance(self, steps: int = 1) -> None:
        if self.progress is not None and steps:
            self.progress.update(self.task, advance=steps)

    def finish(self, label: str, metrics: dict[str, float], seconds: float, resumed: bool) -> None:
        self._stop()
        if self.quiet:
            return
        shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if v is not None and v == v)
        how = "stored" if resumed and seconds == 0 else f"{seconds:.1f} s" + (" (resumed)" if resumed else "")
        self.console.print(f"{label}: {shown}  [{how}]")

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def run(args: argparse.Namespace) -> int:
    from understudy.utility import UtilityOptions, parse_configs, run_utility

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2") from None
    options = UtilityOptions(
        task=args.task, configs=parse_configs(args.configs), seeds=seeds, epochs=args.epochs,
        finetune_epochs=args.finetune_epochs, batch_size=args.batch_size, lr=args.lr,
        image_size=args.image_size, arch=args.arch, weights=args.weights, device=args.device,
        shuffled_control=args.shuffled_control, category=args.category,
        augment=not args.no_augment)
    if args.threads < 0:
        raise UsageError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    run_utility(args.real, args.synthetic, args.test, args.labels, args.output, options,
                         args.synthetic_labels, args.test_labels,
                         reporter=RichReporter(args.quiet), restart=args.restart)
    if not args.quiet:
        print((Path(args.output) / "utility.md").read_text())
        print(f"wrote {args.output}/utility.json, utility.md, utility.html "
              f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0
