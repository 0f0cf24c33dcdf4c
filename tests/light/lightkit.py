"""Helpers for the CAMOUFLaGE-Light tests (a unique module name: test folders share sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from understudy.diffusion.adapters.celeba import CELEBA_ATTRIBUTES

ENCODER_DIM = 16


def save_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                              num_hidden_layers=2, image_size=32, patch_size=8,
                              projection_dim=ENCODER_DIM)
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    return folder


def draw_face(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face (skin ellipse, dark eyes, mouth) on a random background, and its
    5 keypoints: enough structure for the adapters to have something to learn."""
    import cv2

    img = np.full((size, size, 3), rng.integers(40, 200, 3), np.uint8)
    cx, cy = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
    r = size * rng.uniform(0.25, 0.32)
    skin = tuple(int(v) for v in rng.integers(120, 240, 3))
    cv2.ellipse(img, (int(cx), int(cy)), (int(r * 0.8), int(r)), 0, 0, 360, skin, -1)
    eyes = [(cx - r * 0.35, cy - r * 0.2), (cx + r * 0.35, cy - r * 0.2)]
    nose = (cx, cy + r * 0.1)
    mouth = [(cx - r * 0.3, cy + r * 0.45), (cx + r * 0.3, cy + r * 0.45)]
    for x, y in eyes:
        cv2.circle(img, (int(x), int(y)), max(1, int(r * 0.1)), (20, 20, 20), -1)
    cv2.line(img, tuple(int(v) for v in mouth[0]), tuple(int(v) for v in mouth[1]), (150, 30, 30), 2)
    lms = np.array(eyes + [nose] + mouth, np.float32)
    return img, lms


def write_face_dataset(folder: Path, n: int = 6, size: int = 64, seed: int = 0) -> Path:
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    attr_rows, lm_rows = [], []
    for i in range(n):
        img, lms = draw_face(rng, size)
        name = f"{i:06d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        values = rng.choice([-1, 1], len(CELEBA_ATTRIBUTES))
        attr_rows.append(name + " " + " ".join(f"{v:2d}" for v in values))
        lm_rows.append(name + " " + " ".join(str(int(round(v))) for v in lms.ravel()))
    (folder / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(CELEBA_ATTRIBUTES) + "\n" + "\n".join(attr_rows) + "\n")
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
        "rightmouth_x rightmouth_y\n" + "\n".join(lm_rows) + "\n")
    return folder
