"""A tiny randomly initialised BLIP captioner, for tests without weights.

Built the way ``understudy.diffusion.tiny`` builds SD: a 2-layer, 32-wide vision encoder and
text decoder from ``torch.manual_seed(seed)``, a WordPiece vocabulary of a few caption words,
saved with ``save_pretrained`` so that tests load it back through the real
``Captioner`` path (transformers' ``image-text-to-text`` pipeline, local files only). Its
captions are random strings of those words, different for different images: enough to test
where captions go, nothing about their meaning.
"""

from __future__ import annotations

from pathlib import Path

from understudy.diffusion.loading import import_torch

WORDS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "person", "man",
         "woman", "smiling", "walking", "standing", "street", "park", "in", "the", "with",
         "red", "blue", "shirt", "coat", "hat", "bag", "near", "car", "tree")
# Weights drawn wider than BLIP's 0.02: at 0.02 the image barely moves the random decoder and
# four different images got the same caption; at 0.5 they got four different ones.
INIT_RANGE = 0.5


def save_tiny_captioner(folder: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """Write a tiny BLIP captioner (model, tokenizer, image processor) to ``folder``."""
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration,
                              BlipImageProcessor, BlipProcessor)

    torch = import_torch()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab), model_max_length=32)
    config = BlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=4, image_size=image_size, patch_size=8,
                           initializer_range=INIT_RANGE),
        text_config=dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=37,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                         bos_token_id=WORDS.index("[CLS]"), sep_token_id=WORDS.index("[SEP]"),
                         eos_token_id=WORDS.index("[SEP]"), pad_token_id=0,
                         initializer_range=INIT_RANGE),
        projection_dim=32)
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(BlipImageProcessor(size={"height": image_size, "width": image_size}),
                              tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
