"""Measures of the strategy comparison on hand-made histories."""

import pytest

from cosearch.search import comparison


def pair(status, acc=None, fps=1000.0, eff=50.0, meets=True, arch="a"):
    return {
        "status": status,
        "accuracy": acc,
        "throughput_fps": fps,
        "gops_per_w": eff,
        "latency_ms": 1.0,
        "meets_specs": meets,
        "architecture": arch,
        "design": {"stages": []},
    }


BASE = [  # hw_aware: best at spec 0.80 at 1000 images/s, 50 GOPS/W
    pair("trained", 0.78, arch="h1"),
    pair("trained", 0.85, meets=False, arch="h2"),  # misses the spec
    pair("trained", 0.80, arch="h3"),
]
CO = [
    pair("pruned", None, meets=False, arch="c0"),
    pair("trained", 0.76, fps=3000.0, eff=90.0, arch="c1"),
    pair("survived", None, fps=5000.0, arch="c2"),  # never trained
    pair("trained", 0.795, fps=1500.0, eff=80.0, arch="c3"),
    pair("cached", 0.795, fps=1500.0, eff=80.0, arch="c3"),
    pair("trained", 0.81, fps=1200.0, eff=60.0, arch="c4"),
]


def test_best_so_far_counts_trained_children_in_order():
    assert comparison.best_so_far(CO) == [(1, 0.76), (2, 0.795), (3, 0.81)]


def test_run_facts_against_the_baseline():
    facts = comparison.run_facts(CO, [{"elapsed_s": 12.5}], BASE, margin=0.01)
    assert facts["best_accuracy"] == 0.81
    assert facts["baseline_accuracy"] == 0.80
    # Pairs at >= 0.80 - 0.01 = 0.79: c3 (1500, 80) and c4 (1200, 60).
    assert facts["fps_at_baseline"] == 1500.0
    assert facts["fps_vs_baseline"] == pytest.approx(0.5)
    assert facts["gops_per_w_at_baseline"] == 80.0
    assert facts["gops_per_w_vs_baseline"] == pytest.approx(0.6)
    # c3, the second child trained, first reaches 0.79.
    assert facts["children_to_baseline"] == 2
    assert facts["children_trained"] == 3
    # Trained children at spec: c1, c3, c4 (c3's cached repeat not again).
    assert facts["at_spec"] == 3
    assert facts["mean_accuracy"] == pytest.approx((0.76 + 0.795 + 0.81) / 3)
    assert facts["median_fps"] == 1500.0
    assert facts["proposals"] == 6 and facts["pruned"] == 1
    assert facts["wall_s"] == 12.5
    # hw_aware measured against itself reaches its best at its 3rd child.
    own = comparison.run_facts(BASE, [], BASE, margin=0.0)
    assert own["children_to_baseline"] == 3 and own["fps_vs_baseline"] == 0.0


def test_aggregate_and_paired_differences():
    facts = {
        "coexplore": {0: {"best_accuracy": 0.81}, 1: {"best_accuracy": 0.83}},
        "random": {0: {"best_accuracy": 0.80}, 1: {"best_accuracy": 0.80}},
    }
    agg = comparison.aggregate(facts)
    assert agg["coexplore"]["best_accuracy"]["mean"] == pytest.approx(0.82)
    assert agg["coexplore"]["best_accuracy"]["n"] == 2
    d = comparison.paired_difference(facts, "coexplore", "random", "best_accuracy")
    assert d["by_seed"] == {0: pytest.approx(0.01), 1: pytest.approx(0.03)}
    assert d["mean"] == pytest.approx(0.02)


def test_paired_differences_on_final_accuracy_are_in_points():
    """comparison.md pairs coexplore's OptSW final accuracy and percentile
    with each other strategy's, seed by seed, in points."""
    facts = {
        "coexplore": {
            0: {"final_optsw": 0.86, "final_optsw_percentile": 0.9},
            1: {"final_optsw": 0.85, "final_optsw_percentile": 0.7},
        },
        "random": {
            0: {"final_optsw": 0.85, "final_optsw_percentile": 0.6},
            1: {"final_optsw": 0.85, "final_optsw_percentile": 0.7},
        },
    }
    text = comparison.markdown(facts, {}, 0.01)
    assert (
        "| coexplore - random | final test accuracy of OptSW | +0.5 points | 0.7071 "
        "| seed 0: +1, seed 1: +0 |" in text
    )
    assert (
        "| coexplore - random | OptSW's percentile in the reference set | +15" in text
    )
