"""Scene captions from a user-given vision-language model (CAMOUFLaGE's caption input).

Any transformers ``image-text-to-text`` checkpoint (a hub id or a local folder) works, e.g.
``Salesforce/blip-image-captioning-base`` style models or small VLMs. The caption is asked
for the scene's content and layout only; identity comes from nowhere but the pixels the
model sees, so the method appends nothing of the original person's looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.errors import UsageError

QUESTION = ("Describe this photo in one sentence: the scene, how many people, what they do "
            "and wear. Do not name anyone.")
MAX_NEW_TOKENS = 60


@dataclass
class Captioner:
    """``captioner(image (H, W, 3) uint8) -> str``; the model loads on first call."""

    model: str
    offline: bool = False
    device: str = "cpu"
    _pipe: Any = field(default=None, repr=False)

    def __call__(self, image: np.ndarray) -> str:
        from PIL import Image

        if self._pipe is None:
            self._pipe = self._load()
        messages = [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(image)},
                                                 {"type": "text", "text": QUESTION}]}]
        out = self._pipe(text=messages, max_new_tokens=MAX_NEW_TOKENS, return_full_text=False)
        text = out[0]["generated_text"] if out else ""
        if isinstance(text, list):  # chat format: the last message is the answer
            text = text[-1].get("content", "") if text else ""
        text = " ".join(str(text).split())
        if not text:
            raise UsageError(f"captioner {self.model!r} returned an empty caption")
        return text

    def _load(self) -> Any:
        from transformers import pipeline

        from understudy.diffusion.loading import resolve_source

        source = resolve_source(self.model, "captioner")
        try:
            return pipeline("image-text-to-text", model=self.model, device=self.device,
                            model_kwargs={"local_files_only": source.local or self.offline})
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise UsageError(f"captioner {self.model!r} could not be loaded as an "
                             f"image-text-to-text model: {first}") from None
