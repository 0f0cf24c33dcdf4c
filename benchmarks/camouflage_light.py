"""``.venv/bin/python benchmarks/camouflage_light.py [--size 256] [--steps 10] [--repeats 3]``

CAMOUFLaGE-Light against CAMOUFLaGE-Base: per-image time at equal denoising steps and
strength, with tiny random components (CPU; the same architecture ratios as SD 1.5, not the
same absolute times). Base runs its paper configuration: five positive ControlNets (depth,
normal, segmentation, pose, lineart), the identity-function negative control and text
guidance; Light runs one T2I-Adapter pass per image and one UNet pass per step with the
IP-Adapter's face tokens. The goal from the paper: Light <= 0.6x Base.

``light_vs_base(...)`` is the function ``benchmarks/camouflage.py`` can call.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

BASE_CONTROLS = ("depth", "normal", "segmentation", "pose", "lineart")


def _time(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def light_vs_base(size: int = 256, steps: int = 10, strength: float = 0.8,
                  repeats: int = 3, threads: int | None = None) -> dict[str, float]:
    """Median seconds per image for Light and Base on one ``size`` px image, and the ratio."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from understudy.diffusion.negative import CamouflageSampler, IdentityControl, PositiveControl
    from understudy.diffusion.tiny import tiny_components, tiny_controlnet
    from understudy.diffusion.adapters.networks import LightAdapters
    from understudy.diffusion.adapters.encoders import ClipVisionEncoder
    from understudy.diffusion.adapters.encoding import CHANNELS
    from understudy.diffusion.adapters.generator import GenerationControls, LightGenerator

    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)

    # Base: its own plain UNet (the Light UNet gets IP processors installed).
    base = tiny_components()
    sampler = CamouflageSampler(base["unet"], base["vae"], base["text_encoder"],
                                base["tokenizer"], base["scheduler"])
    positive = [PositiveControl(n, tiny_controlnet(base["unet"], seed=i), image, 1.0)
                for i, n in enumerate(BASE_CONTROLS)]
    negative = IdentityControl(tiny_controlnet(base["unet"], latent=True, seed=9), 1.0)

    def run_base() -> None:
        sampler(image, "a photo of a person", positive, negative, steps=steps,
                strength=strength, guidance_scale=7.5, anonymization_scale=1.5,
                generator=torch.Generator().manual_seed(0))

    light = tiny_components()
    torch.manual_seed(0)
    encoder = ClipVisionEncoder(CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        image_size=32, patch_size=8, projection_dim=16)))
    adapters = LightAdapters.fresh(light["unet"], encoder.embed_dim)
    gen = LightGenerator(light["vae"], light["unet"], light["text_encoder"], light["tokenizer"],
                         light["scheduler"], adapters)
    controls = GenerationControls(steps=steps, strength=strength)
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    cond = torch.zeros((1, CHANNELS, size, size))

    def run_light() -> None:
        # The face embedding is part of Light's per-image cost.
        embeds = encoder([image[: size // 2, : size // 2]])[:, None]
        gen(pixels, cond, embeds, controls, generator=torch.Generator().manual_seed(0))

    with torch.no_grad():
        t_base = _time(run_base, repeats)
        t_light = _time(run_light, repeats)
    return {"size": size, "steps": steps, "base_s": t_base, "light_s": t_light,
            "ratio": t_light / t_base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    r = light_vs_base(args.size, args.steps, repeats=args.repeats, threads=args.threads)
    print(f"{r['size']} px, {r['steps']} steps: Base {r['base_s'] * 1000:.0f} ms/image, "
          f"Light {r['light_s'] * 1000:.0f} ms/image, Light/Base = {r['ratio']:.2f}x "
          f"(goal <= 0.6x)")


if __name__ == "__main__":
    main()
