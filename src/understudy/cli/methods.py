"""``understudy methods``: every registered method, what it needs, whether it runs here.

States: ``ready`` (runs as it is), ``needs weights`` (runs once ``--model`` etc. are given),
a partial mode such as RefSD's ``render mode (no SD weights)`` (runs here, without the
weighted stage; the lines below it list what that stage needs), ``unavailable`` (Python
modules missing).
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def describe(spec: Any) -> dict[str, Any]:
    """One method's row: its state here and, for partial modes, what the rest needs."""
    missing = spec.missing()
    if missing:
        state = "unavailable"
    elif spec.without_weights:
        state = spec.without_weights
    else:
        state = "needs weights" if spec.weights else "ready"
    stage_missing = [m for m in spec.weighted_stage_requires if importlib.util.find_spec(m) is None]
    full = list(spec.weighted_stage_needs)
    if stage_missing:
        full.append(f"Python modules {', '.join(stage_missing)} (pip install "
                    f"{' '.join(stage_missing)})")
    return {"name": spec.name, "summary": spec.summary, "targets": list(spec.targets),
            "presets": list(spec.presets), "needs": spec.needs or "nothing beyond the base install",
            "state": state, "usable": not missing, "needs_weights": spec.weights,
            "weighted_stage_needs": full,
            "why_not": f"missing Python modules: {', '.join(missing)}" if missing else ""}


def run(args: argparse.Namespace) -> int:
    import json

    from understudy.methods.registry import SPECS

    rows = [describe(spec) for spec in SPECS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    state_width = max(len(r["state"]) for r in rows)
    for r in rows:
        presets = f" [presets: {', '.join(r['presets'])}]" if r["presets"] else ""
        print(f"{r['name']:<{width}}  {r['state']:<{state_width}}  {r['summary']}{presets}; "
              f"targets: {'/'.join(r['targets'])}; needs: {r['needs']}"
              + (f" ({r['why_not']})" if r["why_not"] else ""))
        if r["usable"] and r["weighted_stage_needs"]:
            print(f"{'':<{width}}  the full method needs: " + "; ".join(r["weighted_stage_needs"]))
    return 0
