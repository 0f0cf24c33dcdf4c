"""Tiny randomly initialised SD components, for tests and benchmarks without weights.

The way diffusers tests itself (``get_dummy_components``): a UNet with
``block_out_channels=(32, 64)``, a 5-layer 32-wide CLIP text encoder, a small VAE and a DDIM
scheduler, all from ``torch.manual_seed(seed)``. ``save_tiny_pipeline`` writes them in the
diffusers folder layout so that tests go through the REAL loading code
(``from_pretrained(local_files_only=True)``) rather than a shortcut.

The VAE keeps SD's 8x downsampling (four blocks) so that image sizes, latent sizes and the
ControlNet conditioning embedding behave as with real weights; a 256 px image then runs
through a 32x32 latent in about a second on a laptop CPU. The tokenizer is a byte-level
BPE with the 256 byte symbols and no merges: every word tokenizes (letter by letter), so
any prompt works, and it needs no downloaded vocabulary.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from understudy.diffusion.loading import import_diffusers, import_torch
from understudy.errors import UsageError

KINDS = ("sd", "inpaint", "controlnet", "idf")
CROSS_ATTENTION_DIM = 32
UNET_CHANNELS = (32, 64)
# Pixel ControlNets downsample their control image 8x to the latent grid: three stride-2
# stages, as in SD's (16, 32, 96, 256), only narrower.
PIXEL_CONDITIONING_CHANNELS = (8, 8, 16, 16)
# The identity-function ControlNet reads the latent itself: one stage, no downsampling.
LATENT_CONDITIONING_CHANNELS = (16,)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tiny_tokenizer() -> Any:
    """A ``CLIPTokenizer`` over the 256 byte symbols (each also as word end), no merges."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    vocab_list = ["<|startoftext|>", "<|endoftext|>"] + symbols + [s + "</w>" for s in symbols]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n")
        tok = CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77,
                            pad_token="<|endoftext|>")
    return tok


def tiny_text_encoder(vocab_size: int, seed: int = 0) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    torch = import_torch()
    torch.manual_seed(seed)
    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1,
                            hidden_size=CROSS_ATTENTION_DIM, intermediate_size=37,
                            layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=5,
                            vocab_size=vocab_size, max_position_embeddings=77)
    return CLIPTextModel(config).eval()


def tiny_unet(in_channels: int = 4, seed: int = 0) -> Any:
    diffusers = import_diffusers()
    import_torch().manual_seed(seed)
    return diffusers.UNet2DConditionModel(
        block_out_channels=UNET_CHANNELS, layers_per_block=2, sample_size=32,
        in_channels=in_channels, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM, attention_head_dim=8).eval()


def tiny_vae(seed: int = 0) -> Any:
    diffusers = import_diffusers()
    import_torch().manual_seed(seed)
    return diffusers.AutoencoderKL(
        block_out_channels=(8, 16, 16, 16), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=8, sample_size=64).eval()


def tiny_scheduler() -> Any:
    """SD 1.x's noise schedule with DDIM (deterministic: eta = 0)."""
    diffusers = import_diffusers()
    return diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", clip_sample=False,
                                   set_alpha_to_one=False, steps_offset=1)


def tiny_controlnet(unet: Any, latent: bool = False, seed: int = 0) -> Any:
    """A ControlNet copied from ``unet`` (as training starts), its zero convolutions given
    small random weights: a freshly initialised ControlNet adds exactly zero, and a test
    of control that cannot change anything proves nothing."""
    diffusers = import_diffusers()
    torch = import_torch()
    net = diffusers.ControlNetModel.from_unet(
        unet, conditioning_channels=4 if latent else 3,
        conditioning_embedding_out_channels=(LATENT_CONDITIONING_CHANNELS if latent
                                             else PIXEL_CONDITIONING_CHANNELS))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # The control image enters through the conditioning embedding: give its convs
        # variance-preserving weights and no bias, so that a different map visibly changes
        # the output (default inits let the biases drown a [0, 1] image).
        for conv in net.controlnet_cond_embedding.modules():
            if isinstance(conv, torch.nn.Conv2d):
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen)
                                  * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
        for conv in [net.controlnet_mid_block, *net.controlnet_down_blocks]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.1)
    return net.eval()


def tiny_components(kind: str = "sd", seed: int = 0) -> dict[str, Any]:
    """The components of a tiny pipeline of ``kind`` ("sd" or "inpaint")."""
    if kind not in ("sd", "inpaint"):
        raise UsageError(f"tiny pipeline kind {kind!r} has no components; allowed: sd, inpaint")
    tokenizer = tiny_tokenizer()
    return {
        "unet": tiny_unet(9 if kind == "inpaint" else 4, seed),
        "vae": tiny_vae(seed),
        "text_encoder": tiny_text_encoder(len(tokenizer), seed),
        "tokenizer": tokenizer,
        "scheduler": tiny_scheduler(),
    }


def save_tiny_pipeline(kind: str, folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny random model of ``kind`` to ``folder`` in the diffusers layout.

    ``sd``: a text-to-image pipeline (also serves img2img and as the base of ControlNets);
    ``inpaint``: the same with a 9-channel inpainting UNet; ``controlnet``: a pixel-image
    ControlNet folder matching the ``sd`` UNet of the same seed; ``idf``: an
    identity-function ControlNet (conditioned on the 4-channel VAE latent).
    """
    if kind not in KINDS:
        raise UsageError(f"tiny pipeline kind {kind!r} is not known; allowed: {', '.join(KINDS)}")
    diffusers = import_diffusers()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind in ("controlnet", "idf"):
        net = tiny_controlnet(tiny_unet(4, seed), latent=kind == "idf", seed=seed)
        net.save_pretrained(folder)
        return folder
    pipe_cls = (diffusers.StableDiffusionInpaintPipeline if kind == "inpaint"
                else diffusers.StableDiffusionPipeline)
    pipe = pipe_cls(**tiny_components(kind, seed), safety_checker=None, feature_extractor=None,
                    requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder
