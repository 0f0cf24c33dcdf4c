"""The Python API beside the CLI: ``understudy.anonymize``, ``load_method``, ``evaluate``.

For many images, build one ``Anonymizer`` and call it per frame: models load once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from understudy.errors import UsageError
from understudy.scene import Frame, Result


def anonymize(image: np.ndarray | str | Path, method: str = "blur", target: str | None = None,
              seed: int = 0, **options: Any) -> Result:
    """Anonymize one image: an ``(H, W, 3) uint8`` RGB array or a path to an image file.

    ``target`` is "faces" or "people"; by default what the method works on (faces for
    methods that do both). ``options`` are the method's options (e.g. ``attributes="random"`` for RefSD). Returns a
    ``Result``: ``result.image`` (H, W, 3) uint8 and ``result.regions``, one record per face or
    person with its box and outcome (``replaced``, ``masked`` when failing closed, ``skipped``).
    """
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer

    source = ""
    if isinstance(image, (str, Path)):
        from understudy.io.images import read_image

        source = str(image)
        image = read_image(Path(image)).rgb
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    from understudy.methods.registry import target_for

    perception = PerceptionOptions(target=target_for(method, target))
    pipeline = Anonymizer(AnonymizeOptions(method, options, perception, seed=seed))
    return pipeline(Frame(np.ascontiguousarray(image), source))[1]
