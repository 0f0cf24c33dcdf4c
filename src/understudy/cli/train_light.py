"""``understudy train camouflage-light``: train the IP-Adapter and T2I-Adapter of
CAMOUFLaGE-Light (see ``understudy.train.light``). Re-running with the same ``--output``
resumes from the newest checkpoint."""

from __future__ import annotations

import argparse
import sys
import time

from understudy.train.light_config import LightTrainConfig, load_config, preset_names


def add_parser(parser: argparse.ArgumentParser) -> None:
    d = LightTrainConfig()
    parser.add_argument("--preset", help=f"defaults from a shipped preset: {', '.join(preset_names())}")
    parser.add_argument("--config", help="a YAML file of options (after the preset, before flags)")
    parser.add_argument("--model", help="SD 1.x weights: hub id or local diffusers folder")
    parser.add_argument("--image-encoder", dest="image_encoder",
                        help="CLIP vision model (hub id/folder) or open_clip:ARCH:CHECKPOINT (FaRL)")
    parser.add_argument("--image-encoder-subfolder", dest="image_encoder_subfolder")
    parser.add_argument("--data", help="folder of face images (+ optional CelebA label files)")
    parser.add_argument("-o", "--output", help="where checkpoints and the final adapters go")
    parser.add_argument("--attributes-file", dest="attributes_file",
                        help="CelebA list_attr_celeba.txt-format labels")
    parser.add_argument("--landmarks-file", dest="landmarks_file",
                        help="CelebA landmarks file; default: detect faces with CenterFace")
    parser.add_argument("--captions-file", dest="captions_file",
                        help="metadata.jsonl of {file_name, text}; default: from attributes")
    parser.add_argument("--steps", type=int, help=f"optimizer steps (default {d.steps})")
    parser.add_argument("--batch-size", dest="batch_size", type=int, help=f"default {d.batch_size}")
    parser.add_argument("--gradient-accumulation", dest="gradient_accumulation", type=int)
    parser.add_argument("--learning-rate", dest="learning_rate", type=float,
                        help=f"default {d.learning_rate}")
    parser.add_argument("--resolution", type=int, help=f"square px, multiple of 64 (default {d.resolution})")
    parser.add_argument("--caption-dropout", dest="caption_dropout", type=float)
    parser.add_argument("--attribute-dropout", dest="attribute_dropout", type=float,
                        help=f"share of samples whose attributes are thinned to unknown "
                             f"(default {d.attribute_dropout})")
    parser.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    parser.add_argument("--keep-checkpoints", dest="keep_checkpoints", type=int)
    parser.add_argument("--log-every", dest="log_every", type=int)
    parser.add_argument("--mixed-precision", dest="mixed_precision", choices=("no", "fp16", "bf16"))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-resume", dest="resume", action="store_false", default=None,
                        help="start over even if OUTPUT holds checkpoints")
    parser.add_argument("--offline", action="store_true", default=None,
                        help="hub ids from the local cache only")
    parser.add_argument("--quiet", action="store_true")


OPTION_NAMES = ("model", "image_encoder", "image_encoder_subfolder", "data", "output",
                "attributes_file", "landmarks_file", "captions_file", "steps", "batch_size",
                "gradient_accumulation", "learning_rate", "resolution", "caption_dropout",
                "attribute_dropout", "checkpoint_every", "keep_checkpoints", "log_every", "mixed_precision", "seed",
                "device", "resume", "offline")


def run(args: argparse.Namespace) -> int:
    from understudy.train.light import StepReport, train

    config = load_config(args.preset, args.config,
                         **{name: getattr(args, name) for name in OPTION_NAMES})
    begin = time.monotonic()
    first: list[int] = []

    def log(text: str) -> None:
        if not args.quiet:
            print(f"train camouflage-light: {text}", file=sys.stderr, flush=True)

    def progress(report: StepReport) -> None:
        if not first:
            first.append(report.step - 1)
        if args.quiet or (report.step % config.log_every and report.step != report.total):
            return
        done = report.step - first[0]
        rate = done / max(time.monotonic() - begin, 1e-9)
        eta = (report.total - report.step) / rate if rate > 0 else 0.0
        print(f"step {report.step}/{report.total}  loss {report.loss:.4f}  {rate:.2f} steps/s  "
              f"eta {eta / 60:.1f} min", file=sys.stderr, flush=True)

    train(config, progress, log)
    log(f"done; use it with --method camouflage-light --option adapters={config.output} "
        f"--option image_encoder={config.image_encoder}")
    return 0
