"""The two trained parts of CAMOUFLaGE-Light, built on diffusers' own classes.

* IP-Adapter: ``ImageProjection`` (embedding -> 4 tokens) plus ``IPAdapterAttnProcessor2_0``
  in every cross-attention layer (decoupled cross-attention: its own key/value projections
  for the image tokens, added to the text attention with a scale). The per-person masks of
  diffusers' processor keep each person's image tokens inside their own region.
* T2I-Adapter: diffusers' ``T2IAdapter`` over the spatial attribute/keypoint map; its
  features are added to the UNet's down blocks.

Saved layout of an adapter folder (``LightAdapters.save``):

* ``ip_adapter.safetensors`` in the original IP-Adapter layout (``image_proj.*``,
  ``ip_adapter.N.to_k_ip.weight``), so diffusers' ``pipe.load_ip_adapter`` reads it too;
* ``t2i_adapter/`` a diffusers ``T2IAdapter`` folder;
* ``light.json``: the embedding size, number of image tokens and the encoder it was trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from understudy.errors import UsageError
from understudy.diffusion.adapters.encoding import CHANNELS

IP_WEIGHTS = "ip_adapter.safetensors"
T2I_FOLDER = "t2i_adapter"
META = "light.json"
# The original IP-Adapter uses 4 image tokens for a global CLIP embedding.
NUM_TOKENS = 4


@dataclass
class AdapterMeta:
    """What a saved adapter pair needs to be rebuilt and used correctly."""

    image_embed_dim: int
    num_tokens: int = NUM_TOKENS
    map_channels: int = CHANNELS
    image_encoder: str = ""  # the encoder it was trained with: the same one must feed it
    base_model: str = ""
    steps_trained: int = 0


def cross_attention_names(unet: Any) -> list[str]:
    """The attention processors that see the text (``attn2``), in diffusers' order."""
    return [n for n in unet.attn_processors if not n.endswith("attn1.processor")]


def _hidden_size(unet: Any, name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return channels[-1]
    if name.startswith("up_blocks"):
        return list(reversed(channels))[int(name[len("up_blocks.")])]
    return channels[int(name[len("down_blocks.")])]


def install_ip_adapter(unet: Any, image_embed_dim: int, num_tokens: int = NUM_TOKENS) -> None:
    """Add a fresh IP-Adapter to ``unet`` (in place). The image key/value projections start
    as copies of the text ones, as in the IP-Adapter paper, so training starts from
    attention that already reads CLIP-like tokens."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor2_0, IPAdapterAttnProcessor2_0
    from diffusers.models.embeddings import ImageProjection, MultiIPAdapterImageProjection

    cross_dim = int(unet.config.cross_attention_dim)
    p = next(unet.parameters())
    procs: dict[str, Any] = {}
    modules = dict(unet.named_modules())
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            procs[name] = AttnProcessor2_0()
            continue
        proc = IPAdapterAttnProcessor2_0(hidden_size=_hidden_size(unet, name),
                                         cross_attention_dim=cross_dim, num_tokens=(num_tokens,),
                                         scale=1.0)
        attn = modules[name[: -len(".processor")]]
        with torch.no_grad():
            proc.to_k_ip[0].weight.copy_(attn.to_k.weight)
            proc.to_v_ip[0].weight.copy_(attn.to_v.weight)
        procs[name] = proc.to(device=p.device, dtype=p.dtype)
    unet.set_attn_processor(procs)
    projection = ImageProjection(image_embed_dim=image_embed_dim, cross_attention_dim=cross_dim,
                                 num_image_text_embeds=num_tokens)
    unet.encoder_hid_proj = MultiIPAdapterImageProjection([projection]).to(p.device, p.dtype)
    # What diffusers' own IP-Adapter loader sets: the UNet then projects
    # added_cond_kwargs["image_embeds"] and hands (text, image tokens) to the processors.
    unet.config.encoder_hid_dim_type = "ip_image_proj"


def ip_processors(unet: Any) -> list[Any]:
    """The IP-Adapter processors of ``unet`` in save order; an error if none is installed."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    procs = [unet.attn_processors[n] for n in cross_attention_names(unet)]
    if not procs or not all(isinstance(p, IPAdapterAttnProcessor2_0) for p in procs):
        raise UsageError("this UNet has no IP-Adapter installed (install_ip_adapter first)")
    return procs


def set_ip_scale(unet: Any, scale: float) -> None:
    """How strongly the image tokens steer generation (0 turns the IP-Adapter off)."""
    for proc in ip_processors(unet):
        proc.scale = [float(scale)]


def ip_parameters(unet: Any) -> list[Any]:
    """The trainable IP-Adapter parameters (projection + image key/value projections)."""
    params = list(unet.encoder_hid_proj.parameters())
    for proc in ip_processors(unet):
        params += list(proc.parameters())
    return params


def ip_state_dict(unet: Any) -> dict[str, Any]:
    """The IP-Adapter weights in the original layout diffusers' ``load_ip_adapter`` reads."""
    projection = unet.encoder_hid_proj.image_projection_layers[0]
    out = {
        "image_proj.proj.weight": projection.image_embeds.weight,
        "image_proj.proj.bias": projection.image_embeds.bias,
        "image_proj.norm.weight": projection.norm.weight,
        "image_proj.norm.bias": projection.norm.bias,
    }
    # diffusers numbers attention layers 0, 1, 2, ... across self- and cross-attention and
    # the cross-attention ones come out odd: 1, 3, 5, ...
    for i, proc in enumerate(ip_processors(unet)):
        out[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"] = proc.to_k_ip[0].weight
        out[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"] = proc.to_v_ip[0].weight
    return {k: v.detach().float().cpu().contiguous() for k, v in out.items()}


def load_ip_state_dict(unet: Any, state: dict[str, Any]) -> None:
    """Load ``ip_state_dict``-layout weights into an installed IP-Adapter (strict)."""
    import torch

    projection = unet.encoder_hid_proj.image_projection_layers[0]
    targets = {
        "image_proj.proj.weight": projection.image_embeds.weight,
        "image_proj.proj.bias": projection.image_embeds.bias,
        "image_proj.norm.weight": projection.norm.weight,
        "image_proj.norm.bias": projection.norm.bias,
    }
    for i, proc in enumerate(ip_processors(unet)):
        targets[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"] = proc.to_k_ip[0].weight
        targets[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"] = proc.to_v_ip[0].weight
    missing = sorted(set(targets) - set(state))
    extra = sorted(set(state) - set(targets))
    if missing or extra:
        raise UsageError(f"IP-Adapter weights do not fit this UNet: missing {missing[:2]}, "
                         f"unexpected {extra[:2]} (trained for another base model?)")
    with torch.no_grad():
        for key, param in targets.items():
            if tuple(state[key].shape) != tuple(param.shape):
                raise UsageError(f"IP-Adapter weight {key} has shape {tuple(state[key].shape)}, "
                                 f"this UNet needs {tuple(param.shape)} (another base model?)")
            param.copy_(state[key].to(param.device, param.dtype))


def new_t2i_adapter(unet: Any, in_channels: int = CHANNELS) -> Any:
    """A fresh ``T2IAdapter`` whose feature widths match ``unet``'s down blocks.

    ``full_adapter`` gives one feature map per down block (SD 1.5: 320, 640, 1280, 1280);
    the first layer unshuffles pixels by 8 so the first feature map lands at latent size.
    """
    from diffusers import T2IAdapter

    channels = list(unet.config.block_out_channels)
    if len(channels) < 2:
        raise UsageError("the T2I-Adapter needs a UNet with at least two down blocks")
    # SD's VAE downsamples by 8: the adapter's first features must match the latent size,
    # and each later down block halves it, which full_adapter does block by block.
    return T2IAdapter(in_channels=in_channels, channels=channels,
                      num_res_blocks=2, downscale_factor=8, adapter_type="full_adapter")


def residual_sizes(unet: Any, latent_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """Where the UNet adds each T2I feature map, as (h, w) per down block.

    diffusers adds an adapter feature *before* the downsampler of a cross-attention down
    block but *after* it for a plain one. SD 1.x (three cross-attention blocks, then a plain
    final block without downsampler) gives latent/1, /2, /4, /8, which is exactly the
    adapter's own pyramid; other layouts (diffusers' test UNets start with a plain block)
    need the features resampled, which ``adapter_features`` does.
    """
    h, w = latent_hw
    sizes = []
    types = list(unet.config.down_block_types)
    for i, kind in enumerate(types):
        last = i == len(types) - 1
        if "CrossAttn" in kind:
            sizes.append((h, w))
            if not last:
                h, w = (h + 1) // 2, (w + 1) // 2
        else:
            if not last:
                h, w = (h + 1) // 2, (w + 1) // 2
            sizes.append((h, w))
    return sizes


def adapter_features(t2i: Any, unet: Any, condition: Any, latent_hw: tuple[int, int],
                     scale: float = 1.0) -> list[Any]:
    """T2I-Adapter features for ``condition`` ``(B, C, H, W)``, sized for ``unet``'s blocks
    around a latent of ``latent_hw``."""
    import torch.nn.functional as F

    out = []
    for feature, size in zip(t2i(condition), residual_sizes(unet, latent_hw)):
        if tuple(feature.shape[-2:]) != size:
            feature = F.interpolate(feature, size=size, mode="bilinear", align_corners=False)
        out.append(feature * scale)
    return out


@dataclass
class LightAdapters:
    """The trained pair: the IP-Adapter lives inside the UNet, the T2I-Adapter beside it."""

    unet: Any
    t2i: Any
    meta: AdapterMeta

    @classmethod
    def fresh(cls, unet: Any, image_embed_dim: int, image_encoder: str = "",
              base_model: str = "") -> "LightAdapters":
        install_ip_adapter(unet, image_embed_dim)
        t2i = new_t2i_adapter(unet)
        _move(t2i, unet)
        return cls(unet, t2i, AdapterMeta(image_embed_dim, image_encoder=image_encoder,
                                          base_model=base_model))

    def parameters(self) -> list[Any]:
        return ip_parameters(self.unet) + list(self.t2i.parameters())

    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(ip_state_dict(self.unet), str(folder / IP_WEIGHTS))
        self.t2i.save_pretrained(str(folder / T2I_FOLDER))
        (folder / META).write_text(json.dumps(asdict(self.meta), indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, unet: Any) -> "LightAdapters":
        """Install saved adapters into ``unet`` (which must not have an IP-Adapter yet)."""
        from diffusers import T2IAdapter
        from safetensors.torch import load_file

        folder = Path(folder).expanduser()
        for part in (IP_WEIGHTS, T2I_FOLDER, META):
            if not (folder / part).exists():
                raise UsageError(f"adapter folder {str(folder)!r} lacks {part}; train one with "
                                 f"`understudy train camouflage-light`")
        meta = AdapterMeta(**json.loads((folder / META).read_text()))
        install_ip_adapter(unet, meta.image_embed_dim, meta.num_tokens)
        load_ip_state_dict(unet, load_file(str(folder / IP_WEIGHTS)))
        t2i = T2IAdapter.from_pretrained(str(folder / T2I_FOLDER), local_files_only=True)
        _move(t2i, unet)
        if t2i.config.in_channels != meta.map_channels:
            raise UsageError(f"T2I-Adapter in {str(folder)!r} reads {t2i.config.in_channels} "
                             f"channels, the encoding has {meta.map_channels}")
        return cls(unet, t2i, meta)


def _move(module: Any, like: Any) -> None:
    """Put ``module`` on ``like``'s device and dtype (dtype only when it differs: diffusers
    warns on every dtype cast of a ModelMixin)."""
    p = next(like.parameters())
    module.to(p.device)
    if next(module.parameters()).dtype != p.dtype:
        module.to(dtype=p.dtype)
