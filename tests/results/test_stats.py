"""Rank agreement, seed noise and spread (cosearch.results.stats)."""

import math

import numpy as np

from cosearch.results.stats import kendall_tau, mean_spread, seed_noise_signal


def test_kendall_tau_known_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # One discordant pair of 6: (C - D) / 6 = (5 - 1) / 6.
    assert math.isclose(kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]), 4 / 6)
    # tau-b with a tie in x: pairs 6, C = 5, D = 0, x-ties 1:
    # 5 / sqrt((6 - 1) * 6).
    assert math.isclose(kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]), 5 / math.sqrt(30))
    # NaN pairs are left out; a constant side has no ranking.
    assert kendall_tau([1, np.nan, 3], [1, 5, 2]) == 1.0
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))


def test_seed_noise_signal():
    # Two items, two seeds each: within-item variances 0.5 and 2 (ddof 1)
    # -> noise sqrt(1.25); item means 1.5 and 4 -> signal std (ddof 1)
    # sqrt(((1.5 - 2.75)^2 + (4 - 2.75)^2) / 1) = 1.25 * sqrt(2).
    noise, signal = seed_noise_signal(np.array([[1.0, 2.0], [3.0, 5.0]]))
    assert math.isclose(noise, math.sqrt(1.25))
    assert math.isclose(signal, 1.25 * math.sqrt(2))
    noise, _ = seed_noise_signal(np.array([[1.0], [2.0]]))
    assert math.isnan(noise)


def test_mean_spread_skips_missing():
    s = mean_spread([1.0, None, 3.0])
    assert s == {"mean": 2.0, "std": math.sqrt(2.0), "min": 1.0, "max": 3.0, "n": 2}
    assert mean_spread([None])["n"] == 0
