"""Strategies compared on final test accuracy: hand-made runs, the tie rule."""

import pytest

from cosearch.final import compare


def _design(arch, mean, fps, gops, proxy=0.8, std=0.002):
    pair = {
        "architecture": arch,
        "accuracy": proxy,
        "throughput_fps": fps,
        "gops_per_w": gops,
    }
    final = {"mean": mean, "std": std, "low": mean, "high": mean, "seeds": 2}
    return {"role": "OptSW", "architecture": arch, "pair": pair, "final": final}


def _view(*designs):
    return {"designs": list(designs)}


MARGIN = 0.008  # tie margin: 0.8 points


def test_final_facts_against_the_baseline():
    base = _view(_design("h", 0.870, 1000, 40.0))
    mine = _view(
        _design("a", 0.875, 1500, 50.0),  # more accurate, faster
        _design("b", 0.864, 3000, 90.0),  # 0.6 points below h: a tie, fastest
        _design("c", 0.850, 6000, 99.0),  # 2 points below: not at h's accuracy
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
