"""Utility (HumanGenAI psi): does a model trained on pseudonymized data still work?

``run_utility`` loads the splits, trains the same small model in S, R, S+R and S→R over
several seeds (resumable), tests on held-out real data and writes ``utility.json``,
``utility.md`` and ``utility.html``. Needs torch (``pip install 'understudy[diffusion]'``
or any torch build).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from understudy.errors import MissingDependency
from understudy.utility.protocol import CONFIGS, CONTROL, UtilityOptions, parse_configs

__all__ = ["CONFIGS", "CONTROL", "UtilityOptions", "parse_configs", "run_utility"]


def run_utility(real: str | Path, synthetic: str | Path, test: str | Path, labels: str | Path,
                out_dir: str | Path, options: UtilityOptions | None = None,
                synthetic_labels: str | Path | None = None,
                test_labels: str | Path | None = None, reporter: Any = None,
                restart: bool = False) -> dict[str, Any]:
    """Run the whole protocol and write the report; returns the utility.json content."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependency("torch (for the utility models)",
                                "pip install torch  (CPU build: --index-url "
                                "https://download.pytorch.org/whl/cpu)") from None
    from understudy.utility.protocol import load_data, run_protocol
    from understudy.utility.report import build_report, write_report

    options = options or UtilityOptions()
    data = load_data(real, synthetic, test, labels, options, synthetic_labels, test_labels)
    results = run_protocol(data, options, out_dir, reporter, restart)
    report = build_report(data, options, results)
    write_report(report, out_dir)
    return report
