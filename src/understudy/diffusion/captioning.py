"""Captions from a user-given image captioner (CAMOUFLaGE's caption input).

The paper captions the input image, so the generated picture keeps what the scene shows
(who stands where, what they do and wear) while the identity goes. Any transformers
``image-text-to-text`` checkpoint (a hub id or a local folder) works: plain captioners such
as BLIP (``Salesforce/blip-image-captioning-base``), GIT or a VisionEncoderDecoder are
prompted with the prefix ``"a photo of"``; chat models (a processor with a chat template,
e.g. small VLMs) are asked ``QUESTION``. transformers 5 has no separate ``image-to-text``
task: ``image-text-to-text`` serves both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from understudy.errors import UsageError

QUESTION = ("Describe this photo in one sentence: the scene, how many people, what they do "
            "and wear. Do not name anyone.")
PREFIX = "a photo of"  # BLIP's conditional-captioning prompt
MAX_NEW_TOKENS = 60


@dataclass
class Captioner:
    """``captioner(image (H, W, 3) uint8) -> str``; the model loads on first call."""

    model: str
    offline: bool = False
    device: str = "cpu"
    max_new_tokens: int = MAX_NEW_TOKENS
    _pipe: Any = field(default=None, repr=False)

    def __call__(self, image: np.ndarray) -> str:
        from PIL import Image

        if self._pipe is None:
            self._pipe = self._load()
        picture = Image.fromarray(np.ascontiguousarray(image))
        if self.chat:
            messages = [{"role": "user", "content": [{"type": "image", "image": picture},
                                                     {"type": "text", "text": QUESTION}]}]
            out = self._pipe(text=messages, max_new_tokens=self.max_new_tokens,
                             return_full_text=False)
        else:
            out = self._pipe(images=picture, text=PREFIX, max_new_tokens=self.max_new_tokens)
        text = out[0]["generated_text"] if out else ""
        if isinstance(text, list):  # chat format: the last message is the answer
            text = text[-1].get("content", "") if text else ""
        text = " ".join(str(text).split())
        if not text or text == PREFIX:
            raise UsageError(f"captioner {self.model!r} returned an empty caption")
        return text

    @property
    def chat(self) -> bool:
        """Whether the loaded model takes chat messages (its processor has a chat template)."""
        processor = getattr(self._pipe, "processor", None)
        tokenizer = getattr(self._pipe, "tokenizer", None)
        return bool(getattr(processor, "chat_template", None)
                    or getattr(tokenizer, "chat_template", None))

    def _load(self) -> Any:
        from transformers import pipeline

        from understudy.diffusion.loading import resolve_source

        source = resolve_source(self.model, "captioner")
        try:
            return pipeline("image-text-to-text", model=self.model,
                            device=self.device, local_files_only=source.local or self.offline)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise UsageError(f"captioner {self.model!r} could not be loaded as an "
                             f"image-text-to-text model (BLIP, GIT, a VLM ...): {first}") from None
