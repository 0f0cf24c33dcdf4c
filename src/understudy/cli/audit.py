"""``understudy audit export DST --labels L.csv --attributes A.csv``: the label files of the
utility and rating steps, written from a run's audit (see ``understudy.io.audit_export``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from understudy.errors import UsageError


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    export = sub.add_parser("export", help="label files for `utility --labels` and "
                            "`rate create --attributes` from DST/audit.jsonl")
    export.add_argument("destination", metavar="DST", help="the -o folder of an anonymize run")
    export.add_argument("--labels", type=Path, metavar="CSV",
                        help="one row per stand-in: image, box, attributes (utility --labels)")
    export.add_argument("--attributes", type=Path, metavar="CSV",
                        help="one row per image: image, method, attributes "
                             "(rate create --attributes)")


def run(args: argparse.Namespace) -> int:
    from understudy.io import audit_export

    if args.labels is None and args.attributes is None:
        raise UsageError("audit export writes nothing without --labels CSV and/or "
                         "--attributes CSV")
    found = audit_export.read_stand_ins(args.destination)
    if not found.stand_ins:
        raise UsageError(f"{args.destination}: the audit has no replaced person with "
                         "attributes (was the run a stand-in method with --target people?)")
    if args.labels is not None:
        n = audit_export.write_labels(found.stand_ins, args.labels)
        print(f"labels      {args.labels}: {n} stand-ins")
    if args.attributes is not None:
        n = audit_export.write_image_attributes(found.stand_ins, args.attributes)
        print(f"attributes  {args.attributes}: {n} images")
    if found.videos:
        print(f"note        {found.videos} video output(s) left out: their audit rows hold "
              "counts, not people")
    return 0
