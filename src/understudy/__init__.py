"""understudy: replace the people in images and videos with synthetic stand-ins, and measure it.

    import understudy
    result = understudy.anonymize(image, method="blur", target="faces", seed=0)
    method = understudy.load_method("maskout", color="#808080")

Heavy parts (torch, diffusers, mediapipe) are imported only when a method needs them.
"""

from __future__ import annotations

from typing import Any

from understudy.version import __version__
__all__ = ["anonymize", "load_method", "evaluate", "Anonymizer", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import understudy` (and the CLI's start-up) fast.
    if name == "anonymize":
        from understudy.api import anonymize

        return anonymize
    if name == "load_method":
        from understudy.methods.registry import load_method

        return load_method
    if name == "Anonymizer":
        from understudy.run.anonymizer import Anonymizer

        return Anonymizer
    if name == "evaluate":
        from understudy.evaluation.api import evaluate

        return evaluate
    raise AttributeError(f"module 'understudy' has no attribute {name!r}")
