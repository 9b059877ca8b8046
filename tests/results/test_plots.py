"""What the plots draw, read back from the figure's artists (not only that a
file was written)."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from cosearch.results import plots

matplotlib.use("Agg")  # as the package draws (no screen)


def _pair(acc, fps, eff, meets=True, status="trained"):
    return {
        "accuracy": acc,
        "throughput_fps": fps,
        "gops_per_w": eff,
        "meets_specs": meets,
        "status": status,
        "architecture": f"3,{int(fps)},1",
    }


HISTORY = [
    _pair(0.80, 3000.0, 10.0),
    _pair(0.85, 2000.0, 12.0),
    _pair(0.83, 1000.0, 8.0),  # dominated on throughput
    _pair(0.90, 500.0, 5.0, meets=False),  # trained, misses the specs
    {**_pair(None, 4000.0, 20.0), "status": "pruned"},
]


def _collections(ax):
    """Scatter offsets by legend label."""
    return {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}


def test_pairs_fronts_and_pruned_strip_are_drawn_where_they_belong():
    fig, axes = plt.subplots(1, 2)
    plots.plot_pairs(axes, [("coexplore", HISTORY)])
    got = _collections(axes[0])
    np.testing.assert_allclose(
        got["coexplore meets specs"], [[3000, 80], [2000, 85], [1000, 83]]
    )
    np.testing.assert_allclose(got["coexplore trained, misses specs"], [[500, 90]])
    # Pruned pairs sit on a strip below the lowest accuracy shown.
    strip = got["coexplore pruned"]
    assert strip[0, 0] == 4000 and strip[0, 1] < 80
    (front,) = [line for line in axes[0].lines if line.get_label() == "coexplore front"]
    # The throughput front: (3000, 80) and (2000, 85); (1000, 83) is dominated.
    assert sorted(zip(front.get_xdata(), front.get_ydata(), strict=True)) == [
        (2000.0, 85.0),
        (3000.0, 80.0),
    ]
    assert axes[1].get_xlabel() == "energy eff. (GOPS/W)"
    plt.close(fig)
