"""``understudy train WHAT ...``: train the learned parts some methods need.

Each trainer is one module with ``add_parser(parser)`` and ``run(args) -> int``, listed in
``TRAINERS`` (as the top-level commands are in ``understudy.cli.COMMANDS``): adding one is
a module plus one line here.
"""

from __future__ import annotations

import argparse
import importlib

# (name, module, one-line help)
TRAINERS: tuple[tuple[str, str, str], ...] = (
    ("idf", "understudy.cli.train_idf", "CAMOUFLaGE's identity-function ControlNet (negative control)"),
    ("camouflage-light", "understudy.cli.train_light", "CAMOUFLaGE-Light's IP-Adapter and T2I-Adapter, trained jointly"),
)


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trainer", metavar="WHAT", parser_class=type(parser))
    sub.required = True
    for name, module, help_text in TRAINERS:
        trainer = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_parser(trainer)
        trainer.set_defaults(_trainer_module=module)


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(args._trainer_module).run(args))
