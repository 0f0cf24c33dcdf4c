"""Statistics for ratings: Krippendorff's alpha and a two-way bootstrap of the mean.

Ratings are crossed: every score belongs to one annotator and one item. A confidence
interval that resamples only items ignores that annotators differ (some are strict); one
that resamples only annotators ignores that items differ. The bootstrap here resamples
both, which is the honest interval for "another study with other annotators and images".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("nominal", "ordinal", "interval", "ratio")


def krippendorff_alpha(data: np.ndarray, metric: str = "ordinal") -> float:
    """Krippendorff's alpha of a (coders, units) array of numbers, NaN where missing.

    Follows Krippendorff (2011), "Computing Krippendorff's alpha-reliability": coincidence
    matrix over pairable values, observed and expected disagreement. NaN when there are no
    pairable values or no variation at all.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    data = np.asarray(data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"data must be (coders, units), got shape {data.shape}")
    counts_per_unit = np.sum(~np.isnan(data), axis=0)
    data = data[:, counts_per_unit >= 2]
    if data.shape[1] == 0:
        return float("nan")
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return float("nan")
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    coincidence = np.zeros((k, k))
    for unit in data.T:
        present = unit[~np.isnan(unit)]
        m = len(present)
        tally = np.zeros(k)
        for v in present:
            tally[index[v]] += 1
        pairs = np.outer(tally, tally) - np.diag(tally)  # ordered pairs of different coders
        coincidence += pairs / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta = _delta(values, n_c, metric)
    observed = np.sum(coincidence * delta) / n
    expected = np.sum(np.outer(n_c, n_c) * delta) / (n * (n - 1))
    if expected == 0:
        return float("nan")
    return float(1.0 - observed / expected)


def _delta(values: np.ndarray, n_c: np.ndarray, metric: str) -> np.ndarray:
    """Squared difference function delta^2(c, k) of the metric."""
    c, k = np.meshgrid(values, values, indexing="ij")
    if metric == "nominal":
        return (c != k).astype(float)
    if metric == "interval":
        return (c - k) ** 2
    if metric == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(out)
    # ordinal: the ranks between c and k, with half the counts at each end
    cum = np.cumsum(n_c)
    i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)
    return (between - (n_c[i] + n_c[j]) / 2.0) ** 2


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int  # ratings
    annotators: int
    items: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "annotators": self.annotators, "items": self.items}


def bootstrap_mean(matrix: np.ndarray, rng: np.random.Generator, resamples: int = 2000,
                   level: float = 0.95) -> Estimate:
    """Mean of a (annotators, items) score matrix (NaN = not rated) with a percentile CI
    from resampling annotators and items with replacement (items only when there is one
    annotator, annotators only when there is one item)."""
    matrix = np.asarray(matrix, dtype=float)
    rated = ~np.isnan(matrix)
    n = int(rated.sum())
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0, 0, 0)
    matrix = matrix[rated.any(axis=1)][:, rated.any(axis=0)]
    a, u = matrix.shape
    mean = float(np.nanmean(matrix))
    values = np.nan_to_num(matrix)
    weights = (~np.isnan(matrix)).astype(float)
    stats = np.empty(resamples)
    for b in range(resamples):
        ai = rng.integers(a, size=a) if a > 1 else np.zeros(1, int)
        ui = rng.integers(u, size=u) if u > 1 else np.zeros(1, int)
        w = weights[np.ix_(ai, ui)]
        total = w.sum()
        stats[b] = values[np.ix_(ai, ui)].sum() / total if total else np.nan
    stats = stats[~np.isnan(stats)]
    if a * u == 1 or len(stats) == 0:
        return Estimate(mean, mean, mean, n, a, u)
    tail = (1.0 - level) / 2.0 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return Estimate(mean, float(low), float(high), n, a, u)
