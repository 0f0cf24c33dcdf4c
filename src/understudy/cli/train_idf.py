"""``understudy train idf``: train CAMOUFLaGE's identity-function ControlNet (see
``understudy.train.idf``). Re-running with the same ``--output`` resumes."""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="the SD 1.x weights it will be used with: hub id or local folder")
    parser.add_argument("--data", required=True, help="a folder of training images (recursive)")
    parser.add_argument("-o", "--output", required=True,
                        help="where checkpoints and the final ControlNet go")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--resolution", type=int, default=512, help="square training crops, px")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--keep-checkpoints", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="start over even if OUTPUT holds checkpoints")
    parser.add_argument("--offline", action="store_true", help="hub ids from the local cache only")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from understudy.train.idf import IDFTrainer, IDFTrainOptions

    options = IDFTrainOptions(
        model=args.model, data=args.data, output=args.output, steps=args.steps,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        resolution=args.resolution, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, seed=args.seed,
        device=args.device, resume=args.resume, offline=args.offline)
    trainer = IDFTrainer(options)
    start, begin = trainer.step, time.monotonic()
    if not args.quiet:
        resumed = f", resumed at step {start}" if start else ""
        print(f"train idf: {len(trainer.images)} images, {options.steps} steps on "
              f"{trainer.device}{resumed}", file=sys.stderr)

    def log(row: dict) -> None:
        if args.quiet:
            return
        done = row["step"] - start
        rate = done / max(time.monotonic() - begin, 1e-9)
        eta = (row["steps"] - row["step"]) / rate if rate > 0 else 0.0
        print(f"step {row['step']}/{row['steps']}  loss {row['loss']:.4f}  "
              f"{rate:.2f} steps/s  eta {eta / 60:.1f} min", file=sys.stderr, flush=True)

    out = trainer.train(log)
    if not args.quiet:
        print(f"train idf: done; use it with --option negative_controlnet={out}", file=sys.stderr)
    return 0
