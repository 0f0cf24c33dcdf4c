"""The fit's outline term (body/fit.py ``Outline``): it pulls the body into the person's
mask and out to its border, so the stand-in follows the silhouette, not only the keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.body import fit
from understudy.render.silhouette import iou


def box_mask(x0: int, y0: int, x1: int, y1: int, size=(120, 80)) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_outline_loss_is_small_on_the_border_and_pulls_strays_back():
    import torch

    target = fit.mask_target(box_mask(20, 10, 60, 110))
    outline = fit.Outline(None, [target, None])
    ys = np.linspace(10, 109, 25)
    on_border = np.concatenate([np.stack([np.full(25, 20.0), ys], 1),
                                np.stack([np.full(25, 59.0), ys], 1)])
    strays = on_border + np.repeat([[0.0, 0.0], [12.0, 0.0]], 25, 0)  # right column 12 px out
    scale = torch.tensor([100.0, 100.0])
    good = torch.tensor(np.stack([on_border, on_border]), dtype=torch.float32)
    bad = torch.tensor(np.stack([strays, strays]), dtype=torch.float32, requires_grad=True)
    good_loss, bad_loss = outline.loss(good, scale), outline.loss(bad, scale)
    assert good_loss[1] == 0 and bad_loss[1] == 0  # no mask: no term
    assert good_loss[0] < bad_loss[0]
    bad_loss.sum().backward()
    # the points beyond the right edge are pulled left, back into the mask
    assert (bad.grad[0, 25:, 0] > 0).all()


def test_no_mask_no_outline_target():
    assert fit.mask_target(None) is None
    assert fit.mask_target(np.zeros((10, 10), bool)) is None


def test_outline_weight_is_validated():
    from understudy.errors import UsageError

    with pytest.raises(UsageError, match="silhouette"):
        fit.FitOptions(silhouette=-1)


def test_the_mask_moves_the_fit_towards_it(body, astronaut_person, astronaut):
    """The astronaut's fit with her mask covers it better than without, and her keypoints
    stay within 2 % of her height."""
    person = astronaut_person
    size = astronaut.shape[:2]
    entry = {"keypoints2d": person.keypoints2d, "keypoints3d": person.keypoints3d,
             "phenotype": {}, "scale": float(np.ptp(np.nonzero(person.mask)[0]))}
    options = fit.FitOptions()
    plain = fit.fit_bodies(body, [entry], size, options)[0]
    shaped = fit.fit_bodies(body, [dict(entry, silhouette=person.mask)], size, options)[0]

    def outline(f: fit.BodyFit) -> np.ndarray:
        import cv2

        focal = options.focal_for(size)
        uv = f.vertices[:, :2] / f.vertices[:, 2:] * focal + [size[1] / 2, size[0] / 2]
        out = np.zeros(size, np.uint8)
        cv2.fillPoly(out, list(np.round(uv[body.faces[~body.hidden_faces]]).astype(np.int32)), 1)
        return out > 0

    assert iou(outline(shaped), person.mask) > iou(outline(plain), person.mask)
    assert shaped.error_px / entry["scale"] < 0.02
