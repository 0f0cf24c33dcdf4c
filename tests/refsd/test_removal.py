"""Stage 1 reads no pixel of the person (issue 14): a segmenter's mask that stops short of
the person's edge leaves a strip of their colour just outside the hole; the fill must not
smear it back in."""

import numpy as np

from understudy.diffusion.inpaint import inpaint_classical
from understudy.regions import dilate


def _scene():
    image = np.full((240, 200, 3), 128, np.uint8)
    image[40:200, 60:140] = (220, 30, 30)  # the person's red shirt
    mask = np.zeros((240, 200), bool)
    mask[48:192, 68:132] = True  # the segmenter missed 8 px all round
    return image, mask


def _redness(image, hole):
    pixels = image[hole].astype(int)
    return float((pixels[:, 0] - pixels[:, 1:].mean(1)).mean())


def test_fill_reads_from_beyond_the_unread_band():
    image, mask = _scene()
    hole = dilate(mask, 6)  # RefSD's margin: 2 px of shirt stay outside the hole
    unread = dilate(mask, 12) & ~hole
    smeared = inpaint_classical(image, hole)
    clean = inpaint_classical(image, hole, unread=unread)
    assert _redness(smeared, hole) > 20  # the check can fail: Telea alone brings red back
    assert _redness(clean, hole) < 2
    # Only the hole is written; the band it did not read keeps its pixels.
    assert np.array_equal(clean[~hole], image[~hole])
