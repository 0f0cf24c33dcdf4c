"""``understudy anonymize SRC... -o DST``: the command a user meets first."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from understudy.errors import UsageError
from understudy.scene import TARGETS

# Flags that become method options when given (and are an error for methods without them).
METHOD_FLAGS = ("attributes", "model")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="image files, folders (recursive) or videos")
    parser.add_argument("-o", "--output", required=True, metavar="DST",
                        help="output folder; mirrors the inputs' relative paths (never inside SRC)")
    parser.add_argument("--method", default="blur",
                        help="anonymization method, optionally with a preset: blur, blur:weak, "
                             "pixelate, maskout, ... (see `understudy methods`)")
    parser.add_argument("--preset", metavar="NAME",
                        help="a preset of the method, same as --method METHOD:NAME (e.g. "
                             "--method camouflage --preset paper; see `understudy methods`)")
    parser.add_argument("--target", choices=TARGETS,
                        help="what to anonymize: detected faces, or whole people (default: what "
                             "the method works on; faces for methods that do both, people "
                             "with --annotations)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same output")
    parser.add_argument("--resume", action="store_true",
                        help="skip inputs already done (same content hash, output present)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--no-audio", dest="keep_audio", action="store_false",
                        help="drop the audio of videos (copied unchanged by default)")
    parser.add_argument("--max-pixels", type=int, default=100_000_000,
                        help="refuse images larger than this many pixels (decompression bombs)")
    parser.add_argument("--max-memory", type=float, default=2.0, metavar="GB",
                        help="memory budget per worker: refuse an image whose decoding and "
                             "anonymization would need more (about 30 bytes per pixel; default 2)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method option (repeatable), e.g. --option blocks=12")
    people = parser.add_argument_group("who is anonymized")
    people.add_argument("--annotations", metavar="COCO_JSON",
                        help="use the people of this COCO file instead of detecting them")
    people.add_argument("--min-person-size", type=int, default=0, metavar="PX",
                        help="skip people whose box is shorter than this")
    people.add_argument("--exclude-region", action="append", default=[], metavar="X0,Y0,X1,Y1",
                        help="leave this image region alone (repeatable)")
    people.add_argument("--uncertain-threshold", type=float, default=0.5,
                        help="detections scoring below this are masked out, not replaced")
    people.add_argument("--face-max-side", type=int, default=3072, metavar="PX",
                        help="search small faces on images downscaled to this long side "
                             "(faces under ~12 px once downscaled are missed: the default keeps "
                             "16 px faces up to 12 MP); 0 = full resolution (slower)")
    people.add_argument("--cache-dir", help="cache perception results here (keyed by content)")
    people.add_argument("--full-perception", action="store_true",
                        help="run every people stage even when the method does not read it "
                             "(blur, pixelate and maskout read no pose, so by default skip "
                             "MediaPipe pose per person); slower, for comparison")
    stand_in = parser.add_argument_group("stand-ins (generative methods)")
    stand_in.add_argument("--attributes",
                          help='"age=30s,gender=female,...", a per-person file, or "random"')
    stand_in.add_argument("--model", help="Stable Diffusion weights: a Hugging Face hub id or a local folder")
    stand_in.add_argument("--anonymization-scale", metavar="A[,A...]",
                          help="CAMOUFLaGE a_s; a comma list writes one output folder per value")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    scale = parser.add_argument_group("scale (see docs/scale.md)")
    scale.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: --workers processes here (default); ray: a Ray Data run")
    scale.add_argument("--address", metavar="ADDR",
                       help="--engine ray: the cluster to join (auto, HOST:6379 or "
                            "ray://HOST:10001); default: start Ray on this machine")
    scale.add_argument("--actors", type=int, default=0, metavar="N",
                       help="--engine ray: actors, each loading the models once (default: "
                            "--workers if given, else one per GPU, else one per CPU of the cluster)")
    scale.add_argument("--batch-size", type=int, metavar="N",
                       help="largest GPU batch of methods that batch, halved on out-of-memory; "
                            "with --engine ray also the inputs per actor call (default 8)")


def parse_option_pairs(pairs: list[str]) -> dict[str, Any]:
    """``["blocks=12", "color=#808080"]`` → typed values (int, float, bool or str)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r} is not KEY=VALUE")
        options[key.strip().replace("-", "_")] = _typed(value.strip())
    return options


def _typed(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--exclude-region {text!r} must be X0,Y0,X1,Y1") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise UsageError(f"--exclude-region {text!r} must be finite numbers")
    if x1 <= x0 or y1 <= y0:
        raise UsageError(f"--exclude-region {text!r} is empty: need X1 > X0 and Y1 > Y0")
    return x0, y0, x1, y1


# Every numeric flag and its range (None: no upper bound): checked before any work starts, so
# a bad value is a usage error (exit 2) instead of a failed row for every input.
NUMERIC_FLAGS: dict[str, tuple[float, float | None]] = {
    "seed": (0, 2**32 - 1), "workers": (1, None), "max_pixels": (1, None),
    "min_person_size": (0, None), "uncertain_threshold": (0, 1), "face_max_side": (0, None),
    "actors": (0, None), "batch_size": (1, None), "max_memory": (0.001, None),
}


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse a numeric flag outside its range (or NaN, or infinite): which flag, what was
    given, what is allowed."""
    for name, (low, high) in NUMERIC_FLAGS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, got {value}")
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in {low}..{high}"
            raise UsageError(f"{flag} must be {allowed}, got {value}")


def build_options(args: argparse.Namespace):
    from understudy.methods import registry
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions
    from understudy.run.local import RunOptions

    check_numbers(args)
    if getattr(args, "preset", None):
        base, _, named = args.method.partition(":")
        if named and named != args.preset:
            raise UsageError(f"--method {args.method} and --preset {args.preset} name two "
                             f"presets; give one")
        args.method = f"{base}:{args.preset}"
    method_options = parse_option_pairs(args.option)
    for flag in METHOD_FLAGS:
        if getattr(args, flag) is not None:
            method_options[flag] = getattr(args, flag)
    if args.anonymization_scale is not None:
        method_options["anonymization_scale"] = args.anonymization_scale
    # A sweep (several anonymization scales) is one output folder per value.
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("", {}),)
    expanded = registry.variants(args.method, method_options)
    if len(expanded) == 1:
        method_options = expanded[0][1]
    else:
        variants = tuple(expanded)
    if args.batch_size is not None:
        from understudy.diffusion.batching import BatchingOptions

        BatchingOptions(batch_size=args.batch_size)  # validates, with the flag's name
        if registry.accepts_batch_size(args.method):
            method_options.setdefault("batch_size", args.batch_size)
    # COCO file names are relative to the one input folder (or a lone file's folder).
    image_root = None
    if len(args.sources) == 1:
        image_root = args.sources[0] if os.path.isdir(args.sources[0]) \
            else os.path.dirname(args.sources[0]) or "."
    perception = PerceptionOptions(
        target=registry.target_for(args.method, args.target, bool(args.annotations)),
        annotations=args.annotations, image_root=image_root,
        min_person_size=args.min_person_size,
        exclude_regions=tuple(parse_box(b) for b in args.exclude_region),
        uncertain_threshold=args.uncertain_threshold, cache_dir=args.cache_dir,
        face_max_side=args.face_max_side, full=args.full_perception)
    anonymize = AnonymizeOptions(args.method, method_options, perception, variants,
                                 seed=args.seed)
    return RunOptions(args.sources, args.output, anonymize, resume=args.resume,
                      workers=args.workers, keep_audio=args.keep_audio, max_pixels=args.max_pixels,
                      max_memory=int(args.max_memory * 1024**3))


def run(args: argparse.Namespace) -> int:
    from understudy.cli.progress import RunReporter

    options = build_options(args)
    runner = _engine(args)
    with RunReporter(options, quiet=args.quiet) as reporter:
        summary = runner(options, on_row=reporter.row)
        reporter.finish(summary)
    return 1 if summary.failed else 0


def _engine(args: argparse.Namespace):
    """The runner to use: local by default; the Ray runner with ``--engine ray``."""
    if args.engine == "local":
        if args.address:
            raise UsageError("--address is for --engine ray; add --engine ray or drop --address")
        from understudy.run.local import run

        return run
    import functools

    from understudy.run.ray import RayOptions, run

    # --workers N means N actors too, unless --actors says otherwise.
    actors = args.actors or (args.workers if args.workers > 1 else 0)
    ray_options = RayOptions(address=args.address, actors=actors, batch_size=args.batch_size or 8)
    return functools.partial(run, ray_options=ray_options)

