"""python benchmarks/camouflage.py [--size 256 --steps 20 --repeats 3] [--model M --controlnet C --negative N]

Per-image time of CAMOUFLaGE-Base's sampler (one positive ControlNet + the negative
control, a_s = 1.5) against a bare diffusers ControlNet img2img pipeline with the same
weights, steps, strength and guidance. Without --model it writes tiny random models (CPU
plumbing cost: the ratio, not the absolute time, is the figure); with real weights and a
GPU it measures the real thing. The expected ratio is about 1.5: per step the bare
pipeline runs the UNet and ControlNet on a batch of 2 (CFG), CAMOUFLaGE adds one more
UNet + ControlNet pass for the negative branch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--controlnet")
    parser.add_argument("--negative")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch

    from understudy.diffusion.loading import load_controlnet, load_pipeline
    from understudy.diffusion.negative import CamouflageSampler, IdentityControl, PositiveControl
    from understudy.diffusion.tiny import save_tiny_pipeline

    tmp = tempfile.TemporaryDirectory()
    tiny = args.model is None
    if tiny:
        root = Path(tmp.name)
        args.model = str(save_tiny_pipeline("sd", root / "sd"))
        args.controlnet = str(save_tiny_pipeline("controlnet", root / "cn"))
        args.negative = str(save_tiny_pipeline("idf", root / "idf"))
    pipe = load_pipeline(args.model, "controlnet-img2img", controlnets=[args.controlnet],
                         device=args.device)
    negative = IdentityControl(load_controlnet(args.negative, device=args.device))
    sampler = CamouflageSampler.from_pipeline(pipe)
    rng = np.random.default_rng(0)
    image = (rng.random((args.size, args.size, 3)) * 255).astype(np.uint8)
    from PIL import Image

    pil = Image.fromarray(image)
    sync = torch.cuda.synchronize if pipe.device.type == "cuda" else (lambda: None)

    def bare() -> None:
        pipe("a photo of a person", image=pil, control_image=pil, num_inference_steps=args.steps,
             strength=args.strength, guidance_scale=7.5, output_type="np",
             generator=torch.Generator().manual_seed(0))

    def camouflage() -> None:
        sampler(image, "a photo of a person", [PositiveControl("canny", pipe.controlnet, image)],
                negative, steps=args.steps, strength=args.strength, guidance_scale=7.5,
                anonymization_scale=1.5, generator=torch.Generator().manual_seed(0))

    rows = []
    for name, fn in (("bare ControlNet img2img", bare), ("CAMOUFLaGE-Base a_s=1.5", camouflage)):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        rows.append((name, float(np.median(times))))
    base = rows[0][1]
    print(f"{args.size} px, {args.steps} steps, strength {args.strength}, device "
          f"{pipe.device}, {'tiny random' if tiny else 'given'} weights")
    print("| pipeline | s/image | ratio |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
