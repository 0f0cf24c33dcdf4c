"""``understudy`` command line: a thin layer over the Python API.

Each subcommand is one module with ``add_parser(subparsers)`` and ``run(args) -> int``,
listed explicitly in ``COMMANDS``. Exit codes: 0 success, 1 some inputs failed, 2 usage error.
Errors the user can fix are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

from understudy.version import __version__
from understudy.cli.native_logs import native_logs_silenced
from understudy.errors import UnderstudyError, printable

# (command, module, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("anonymize", "understudy.cli.anonymize", "replace or hide the people in images and videos"),
    ("methods", "understudy.cli.methods", "list the anonymization methods and whether they run here"),
    ("evaluate", "understudy.cli.evaluate", "measure privacy, posture, attributes and quality of anonymized images"),
    ("doctor", "understudy.cli.doctor", "show which optional parts and model weights are present"),
    ("demo", "understudy.cli.demo", "anonymize the bundled sample images and write a before/after sheet"),
    ("train", "understudy.cli.train", "train the learned parts some methods need (idf: CAMOUFLaGE's negative ControlNet)"),
    ("rate", "understudy.cli.rate", "run a human rating study of anonymized images in a browser"),
    ("utility", "understudy.cli.utility", "train a small model on synthetic, real, both, synthetic-then-real; test on real"),
    ("audit", "understudy.cli.audit", "export label files for the utility and rating steps from a run's audit"),
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="understudy", description="Replace the people in images and videos "
                     "with synthetic stand-ins, and measure how well that protects them.")
    parser.add_argument("--version", action="version", version=f"understudy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module, help_text in COMMANDS:
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_parser(command_parser)
        command_parser.add_argument("--verbose", action="store_true",
                                    help="also show the log lines of third-party libraries "
                                         "(MediaPipe, TF Lite)")
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with contextlib.ExitStack() as stack:
            if not args.verbose:
                stack.enter_context(native_logs_silenced())
            return int(importlib.import_module(args._module).run(args))
    except UnderstudyError as exc:
        print(f"understudy {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("understudy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
