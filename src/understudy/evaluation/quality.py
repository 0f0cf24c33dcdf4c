"""Image quality and collateral change.

* BRISQUE (no reference, lower is better) with OpenCV's ``cv2.quality`` and the LIVE model
  files from Debian's ``opencv-data`` (``brisque_model_live.yml``, ``brisque_range_live.yml``).
* SSIM between original and anonymized image (weight-free; scikit-image's implementation).
* Collateral change: how much of the image *outside* people moved. People-only methods
  should leave it at ~0; a method that repaints the background shows up here.
* FID and KID between the original and anonymized sets, only with Inception weights the
  user gives (no package ships them): a TorchScript file such as the ``inception-2015-12-05.pt``
  of StyleGAN/clean-fid (called as ``model(uint8 NCHW, return_features=True)``), or any
  TorchScript module mapping (N, 3, 299, 299) floats in [0, 1] to features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from understudy.errors import MissingDependency, UsageError
from understudy.assets import file_sha256

BRISQUE_DIRS = ("/usr/share/opencv4/quality", "/usr/share/opencv/quality",
                "/usr/local/share/opencv4/quality", "/opt/homebrew/share/opencv4/quality")
BRISQUE_FILES = ("brisque_model_live.yml", "brisque_range_live.yml")


def brisque_files(search: tuple[str, ...] = BRISQUE_DIRS) -> tuple[str, str]:
    for folder in search:
        paths = [Path(folder) / f for f in BRISQUE_FILES]
        if all(p.is_file() for p in paths):
            return str(paths[0]), str(paths[1])
    raise MissingDependency("the BRISQUE model files (brisque_model_live.yml)",
                            "apt-get install opencv-data")


class Brisque:
    version = "1"

    def __init__(self):
        if not hasattr(cv2, "quality"):
            raise MissingDependency("cv2.quality (opencv-contrib)", "pip install opencv-contrib-python-headless")
        self.model, self.range = brisque_files()

    def __call__(self, image: np.ndarray) -> float:
        bgr = np.ascontiguousarray(image[..., ::-1])
        return float(cv2.quality.QualityBRISQUE_compute(bgr, self.model, self.range)[0])

    def describe(self) -> dict[str, Any]:
        return {"model": "BRISQUE (LIVE)", "files": [self.model, self.range],
                "sha256": file_sha256(self.model), "package": f"opencv {cv2.__version__}",
                "licence": "BSD-3-Clause (opencv_contrib data)"}


def ssim(original: np.ndarray, anonymized: np.ndarray) -> float:
    """SSIM with Wang et al.'s settings (Gaussian window, sigma 1.5), from scikit-image: piq
    has the same metric but imports torchvision at package import, which we avoid."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(original, anonymized, channel_axis=2, data_range=255,
                                       gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def people_mask(size: tuple[int, int], boxes: list[list[float]]) -> np.ndarray:
    mask = np.zeros(size, bool)
    h, w = size
    for b in boxes:
        x0, y0 = max(int(np.floor(b[0])), 0), max(int(np.floor(b[1])), 0)
        x1, y1 = min(int(np.ceil(b[2])), w), min(int(np.ceil(b[3])), h)
        mask[y0:y1, x0:x1] = True
    return mask


def collateral_change(original: np.ndarray, anonymized: np.ndarray, protected: np.ndarray,
                      threshold: int) -> dict[str, Any]:
    """Change outside ``protected`` (people): share of pixels moved by more than
    ``threshold`` in any channel, mean absolute change (0-255), and PSNR (dB)."""
    diff = np.abs(original.astype(np.int16) - anonymized.astype(np.int16))
    changed = diff.max(axis=2) > threshold
    outside = ~protected
    n_out = int(outside.sum())
    out: dict[str, Any] = {"outside_share": 100.0 * n_out / outside.size}
    if n_out:
        mse = float((diff[outside].astype(np.float64) ** 2).mean())
        out.update({"changed_outside": 100.0 * float(changed[outside].mean()),
                    "mean_abs_outside": float(diff[outside].mean()),
                    # identical pixels: PSNR is infinite; report the usual 100 dB cap
                    "psnr_outside": min(100.0, float(10 * np.log10(255.0 ** 2 / mse))) if mse > 0 else 100.0})
    if protected.any():
        out["changed_inside"] = 100.0 * float(changed[protected].mean())
    return out


class InceptionFeatures:
    """Features of a user-given TorchScript Inception, for FID and KID."""

    def __init__(self, path: str):
        import torch

        try:
            self.model = torch.jit.load(path, map_location="cpu").eval()
        except Exception as exc:
            raise UsageError(f"inception {path!r} is not a TorchScript file: "
                             f"{str(exc).splitlines()[0][:200]}") from None
        self._torch = torch
        self.path = path
        self.version = file_sha256(path)[:16]
        self._style: str | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        torch = self._torch
        resized = cv2.resize(image, (299, 299), interpolation=cv2.INTER_AREA)
        u8 = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)[None]
        with torch.inference_mode():
            if self._style in (None, "features"):
                try:  # StyleGAN/clean-fid's Inception: uint8 in, 2048 pool features out
                    out = self.model(u8, return_features=True)
                    self._style = "features"
                    return out.reshape(-1).float().numpy()
                except Exception:
                    if self._style == "features":
                        raise
            out = self.model(u8.float() / 255.0)
            self._style = "plain"
            return out.reshape(-1).float().numpy()

    def describe(self) -> dict[str, Any]:
        return {"model": Path(self.path).name, "sha256": file_sha256(self.path),
                "input": "TorchScript Inception (user-given)"}


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():  # singular product (few images): regularize
        eps = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + eps).dot(s2 + eps))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> float:
    """Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel, averaged
    over random subsets (as in Bińkowski et al. and clean-fid)."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b), subset_size)
    d = a.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), n, replace=False)]
        y = b[rng.choice(len(b), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                  - 2 * kxy.mean())
    return float(total / subsets)
