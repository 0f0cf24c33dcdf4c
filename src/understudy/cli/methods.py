"""``understudy methods``: every registered method, what it needs, whether it runs here."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    import json

    from understudy.methods.registry import SPECS

    rows = []
    for spec in SPECS:
        missing = spec.missing()
        rows.append({
            "name": spec.name, "summary": spec.summary, "targets": list(spec.targets),
            "presets": list(spec.presets), "needs": spec.needs or "nothing beyond the base install",
            "usable": not missing, "needs_weights": spec.weights,
            "why_not": f"missing Python modules: {', '.join(missing)}" if missing else "",
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = ("needs weights" if r["needs_weights"] else "ready") if r["usable"] else "unavailable"
        presets = f" [presets: {', '.join(r['presets'])}]" if r["presets"] else ""
        print(f"{r['name']:<{width}}  {state:<13}  {r['summary']}{presets}; "
              f"targets: {'/'.join(r['targets'])}; needs: {r['needs']}"
              + (f" ({r['why_not']})" if r["why_not"] else ""))
    return 0
