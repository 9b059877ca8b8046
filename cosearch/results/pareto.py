"""Pareto front and hypervolume over objectives that are all maximised.

Host-side numpy on small sets (one row per evaluated pair): ``points`` is
``[N, D]`` with D objectives, e.g. (accuracy, throughput, GOPS/W).
"""

from __future__ import annotations

import numpy as np


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask ``[N]`` of the points no other point dominates (all maximised).

    A point dominates another when it is >= in every objective and > in one.
    Duplicates of a front point are all kept.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2:
        raise ValueError(f"points must be [N, D], got shape {pts.shape}")
    n = pts.shape[0]
    if n == 0:
        return np.zeros((0,), bool)
    ge = (pts[:, None, :] >= pts[None, :, :]).all(-1)  # [i, j]: i >= j everywhere
    gt = (pts[:, None, :] > pts[None, :, :]).any(-1)
    dominated = (ge & gt).any(0)
    return ~dominated


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded below by ``reference``.

    Exact for any D by recursive slicing along the last objective (fine for
    the few hundred points of a search). Points not strictly above the
    reference in every objective contribute nothing.

    Args:
      points: ``[N, D]`` objective values (maximised).
      reference: ``[D]`` the lower corner.
    """
    pts = np.asarray(points, np.float64)
    ref = np.asarray(reference, np.float64)
    if pts.size == 0:
        return 0.0
    pts = pts[(pts > ref).all(axis=1)]
    if pts.shape[0] == 0:
        return 0.0
    pts = pts[non_dominated(pts)]
    return float(_hv(pts - ref))


def _hv(pts: np.ndarray) -> float:
    """Hypervolume of ``pts`` (all > 0) against the origin."""
    d = pts.shape[1]
    if d == 1:
        return float(pts[:, 0].max())
    if d == 2:
        order = np.argsort(-pts[:, 0])
        x, y = pts[order, 0], pts[order, 1]
        vol, best_y = 0.0, 0.0
        for xi, yi in zip(x, y, strict=True):
            if yi > best_y:
                vol += xi * (yi - best_y)
                best_y = yi
        return vol
    # Slice along the last axis: between consecutive levels, the cross-section
    # is the (d-1)-volume of the points that reach at least that level.
    levels = np.unique(pts[:, -1])[::-1]
    vol = 0.0
    for i, level in enumerate(levels):
        below = levels[i + 1] if i + 1 < len(levels) else 0.0
        section = pts[pts[:, -1] >= level][:, :-1]
        vol += _hv(section[non_dominated(section)]) * (level - below)
    return vol
