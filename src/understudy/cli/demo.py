"""``understudy demo``: anonymize the bundled sample photos and write a before/after sheet."""

from __future__ import annotations

import argparse
from pathlib import Path

# Best first: the first method whose needs are met here (and that runs without downloaded
# weights) is shown. RefSD in render mode needs the avatar and perception extras.
DEMO_CHOICES: tuple[tuple[str, str], ...] = (("refsd", "people"), ("blur", "faces"))


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="demo-out", help="folder to write into (default: demo-out)")
    parser.add_argument("--method", help="method to show instead of the best available one")
    parser.add_argument("--target", choices=("faces", "people"), help="with --method: what to anonymize")
    parser.add_argument("--seed", type=int, default=0)


def pick_method() -> tuple[str, str]:
    from understudy.methods.registry import METHODS

    for name, target in DEMO_CHOICES:
        spec = METHODS.get(name)
        if spec is not None and not spec.missing():
            return name, target
    return "blur", "faces"


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from understudy.cli.progress import RunReporter
    from understudy.io.images import read_image
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions
    from understudy.run.local import RunOptions, run as run_local
    from understudy.samples import sample_paths
    from understudy.sheet import before_after_sheet

    method, target = (args.method, args.target or "faces") if args.method else pick_method()
    output = Path(args.output)
    with tempfile.TemporaryDirectory(prefix="understudy-demo-") as tmp:
        # Copy the samples out of the package so the source folder is an ordinary one.
        inputs = Path(tmp) / "samples"
        inputs.mkdir()
        for path in sample_paths():
            shutil.copy(path, inputs / path.name)
        options = RunOptions([str(inputs)], str(output / method),
                             AnonymizeOptions(method, {}, PerceptionOptions(target=target),
                                              seed=args.seed))
        with RunReporter(options) as reporter:
            summary = run_local(options, on_row=reporter.row)
            reporter.finish(summary)
        pairs = []
        for path in sorted(inputs.iterdir()):
            result = output / method / path.name
            if result.exists():
                pairs.append((path.name, read_image(path).rgb, read_image(result).rgb))
    sheet = before_after_sheet(pairs, output / "before_after.jpg",
                               label=f"understudy --method {method} --target {target}")
    print(f"Anonymized {len(pairs)} sample images with --method {method} --target {target}.")
    print(f"Look at: {sheet}  (outputs in {output / method}, audit in {output / method / 'audit.jsonl'})")
    return 1 if summary.failed else 0
