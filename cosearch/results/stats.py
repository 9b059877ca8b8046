"""Small statistics of repeated measurements: rank agreement, noise, spread.

Pure NumPy, used by the proxy-fidelity launcher, the strategy comparison and
the accuracy predictor's noise floor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two rankings of the same items.

    Pairs where either value is NaN are left out; ties count as in tau-b
    (``(C - D) / sqrt((C + D + Tx) (C + D + Ty))``). NaN when fewer than two
    items or either side is constant.

    Args:
      x, y: ``[N]`` scores of the same N items.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if x.size < 2:
        return float("nan")
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu(np.ones_like(dx, dtype=bool), k=1)
    s = (dx * dy)[upper].sum()
    nx = np.count_nonzero(dx[upper])
    ny = np.count_nonzero(dy[upper])
    if nx == 0 or ny == 0:
        return float("nan")
    return float(s / np.sqrt(nx * ny))


def seed_noise_signal(table: np.ndarray) -> tuple[float, float]:
    """(noise, signal) of a ``[A, S]`` table: A items measured with S seeds.

    noise: pooled within-item standard deviation over seeds,
      ``sqrt(mean_a var_s)`` (ddof 1; NaN for one seed).
    signal: standard deviation across items of the seed means (ddof 1).
    """
    table = np.asarray(table, np.float64)
    if table.shape[1] > 1:
        noise = float(np.sqrt(np.nanmean(np.nanvar(table, axis=1, ddof=1))))
    else:
        noise = float("nan")
    means = np.nanmean(table, axis=1)
    signal = float(np.nanstd(means, ddof=1)) if means.size > 1 else float("nan")
    return noise, signal


def mean_spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation, min and max of the non-None values."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }
