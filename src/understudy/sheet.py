"""A before/after contact sheet a person can look at: one row per image, original left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def before_after_sheet(pairs: list[tuple[str, np.ndarray, np.ndarray]], path: Path,
                       height: int = 320, label: str = "anonymized") -> Path:
    """Write ``pairs`` of (name, original, anonymized) RGB images side by side as one JPEG."""
    rows = []
    for name, before, after in pairs:
        scale = height / before.shape[0]
        size = (max(1, round(before.shape[1] * scale)), height)
        left = Image.fromarray(before).convert("RGB").resize(size, Image.LANCZOS)
        right = Image.fromarray(after).convert("RGB").resize(size, Image.LANCZOS)
        row = Image.new("RGB", (2 * size[0] + 12, height + 24), "white")
        row.paste(left, (0, 24))
        row.paste(right, (size[0] + 12, 24))
        draw = ImageDraw.Draw(row)
        draw.text((4, 6), f"{name}: original", fill="black")
        draw.text((size[0] + 16, 6), label, fill="black")
        rows.append(row)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)
    return path
