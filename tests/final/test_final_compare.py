"""Strategies compared on final test accuracy: hand-made runs, the tie rule."""

import pytest

from cosearch.final import compare


def _design(arch, mean, fps, gops, proxy=0.8, std=0.002, role="OptSW", percentile=None):
    pair = {
        "architecture": arch,
        "accuracy": proxy,
        "throughput_fps": fps,
        "gops_per_w": gops,
    }
    final = {"mean": mean, "std": std, "low": mean, "high": mean, "seeds": 2}
    return {
        "role": role,
        "architecture": arch,
        "pair": pair,
        "final": final,
        "percentile": percentile,
    }


def _view(*designs):
    return {"designs": list(designs)}


MARGIN = 0.008  # tie margin: 0.8 points


def test_final_facts_against_the_baseline():
    base = _view(_design("h", 0.870, 1000, 40.0))
    mine = _view(
        _design("a", 0.875, 1500, 50.0),  # more accurate, faster
        _design("b", 0.864, 3000, 90.0, role="OptHW"),  # a tie with h, fastest
        _design("c", 0.850, 6000, 99.0, role="front 0"),  # 2 points below h
    )
    f = compare.final_facts(mine, base, MARGIN)
    assert f["final_best"] == 0.875 and f["final_best_pair"]["architecture"] == "a"
    assert f["baseline_final"] == 0.870
    assert f["final_fps_at_baseline"] == 3000
    assert f["final_gops_per_w_at_baseline"] == 90
    assert f["final_fps_vs_baseline"] == pytest.approx(2.0)  # 3000 / 1000 - 1
    assert f["final_gops_per_w_vs_baseline"] == pytest.approx(1.25)
    # Without a baseline, or without a final training, the measures are None.
    assert compare.final_facts(mine, None, MARGIN)["final_fps_at_baseline"] is None
    assert compare.final_facts(None, base, MARGIN)["final_best"] is None


def test_ties_are_said_in_words():
    facts = {
        "coexplore": {
            0: compare.final_facts(_view(_design("a", 0.875, 1, 1)), None, MARGIN),
            1: compare.final_facts(_view(_design("a", 0.880, 1, 1)), None, MARGIN),
        },
        "random": {
            0: compare.final_facts(_view(_design("r", 0.870, 1, 1)), None, MARGIN),
            1: compare.final_facts(_view(_design("r", 0.860, 1, 1)), None, MARGIN),
        },
    }
    words = compare.tie_statements(facts, MARGIN)
    assert words[0].startswith("seed 0: coexplore and random tie on final accuracy")
    assert words[1].startswith("seed 1: coexplore is more accurate than random (2.00")
    text = "\n".join(compare.final_markdown(facts, MARGIN))
    assert "## Final test accuracy" in text and "87.75% ± 0.35" in text
    assert compare.final_markdown({"random": {0: {}}}, MARGIN) == []


def test_optsw_is_the_proxy_pick_not_the_best_on_test():
    """The search's OptSW (chosen on proxy accuracy) is reported apart from
    the most accurate finalized design on the test split, and the tie
    statements compare OptSWs."""
    mine = _view(
        _design("a", 0.850, 1500, 50.0, proxy=0.76, percentile=0.60),
        _design("b", 0.862, 3000, 90.0, proxy=0.74, role="OptHW", percentile=0.90),
    )
    f = compare.final_facts(mine, None, MARGIN)
    assert f["final_optsw"] == 0.850 and f["final_optsw_percentile"] == 0.60
    assert f["final_optsw_pair"]["architecture"] == "a"
    assert f["final_best"] == 0.862 and f["final_best_percentile"] == 0.90
    # b dominates a: the front's volume is b's box.
    assert f["final_hypervolume"] == pytest.approx(0.862 * 3000 * 90.0)
    assert f["final_designs"] == 2
    other = compare.final_facts(_view(_design("r", 0.861, 1, 1)), None, MARGIN)
    facts = {"coexplore": {0: f}, "random": {0: other}}
    (words,) = compare.tie_statements(facts, MARGIN)
    assert words.startswith("seed 0: random is more accurate than coexplore (1.10")
    text = "\n".join(compare.final_markdown(facts, MARGIN))
    assert "| 0 | coexplore | OptSW | `a` | 85.00% ± 0.20 | 76.00% |" in text
    assert "| 0 | coexplore | best on test | `b` | 86.20% ± 0.20 |" in text
    assert "| 0 | random | best on test |" not in text  # the same design
    # A run finalized without its OptSW (none at spec) has no OptSW measure.
    none = compare.final_facts(
        _view(_design("b", 0.86, 1, 1, role="front 0")), None, MARGIN
    )
    assert none["final_optsw"] is None and none["final_best"] == 0.86
