import itertools

import numpy as np
import pytest

from cosearch.results import pareto


def test_non_dominated_small_table():
    pts = np.array([[0.9, 10.0], [0.8, 20.0], [0.7, 15.0], [0.9, 10.0], [0.95, 5.0]])
    # [0.7, 15] is dominated by [0.8, 20]; the duplicate front point is kept.
    assert pareto.non_dominated(pts).tolist() == [True, True, False, True, True]


def test_front_is_non_dominated_random():
    rng = np.random.default_rng(0)
    pts = rng.random((200, 3))
    mask = pareto.non_dominated(pts)
    front = pts[mask]
    for p in front:
        assert not ((pts >= p).all(1) & (pts > p).any(1)).any()
    for p in pts[~mask]:
        assert ((front >= p).all(1) & (front > p).any(1)).any()


def test_hypervolume_golden_2d():
    # Staircase of (1,3), (2,2), (3,1) against the origin:
    # 3*1 + 2*(2-1) + 1*(3-2) = 3 + 2 + 1 = 6.
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert pareto.hypervolume(pts, np.zeros(2)) == pytest.approx(6.0)


def test_hypervolume_golden_3d():
    # Two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] overlap in a unit cube:
    # 2 + 2 - 1 = 3. Adding (1,1,2) adds a unit cube on top: 4.
    pts = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    assert pareto.hypervolume(pts, np.zeros(3)) == pytest.approx(3.0)
    pts = np.vstack([pts, [1.0, 1.0, 2.0]])
    assert pareto.hypervolume(pts, np.zeros(3)) == pytest.approx(4.0)


def test_hypervolume_matches_grid_count():
    # Monte-Carlo-free check: integer points, count unit cells dominated.
    rng = np.random.default_rng(1)
    pts = rng.integers(1, 6, size=(12, 3)).astype(float)
    cells = 0
    for x, y, z in itertools.product(range(5), repeat=3):
        corner = np.array([x + 1, y + 1, z + 1])
        cells += bool((pts >= corner).all(1).any())
    assert pareto.hypervolume(pts, np.zeros(3)) == pytest.approx(cells)


def test_hypervolume_ignores_points_below_reference():
    pts = np.array([[1.0, 1.0], [-1.0, 5.0]])
    assert pareto.hypervolume(pts, np.zeros(2)) == pytest.approx(1.0)
    assert pareto.hypervolume(np.zeros((0, 2)), np.zeros(2)) == 0.0
