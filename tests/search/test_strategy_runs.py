"""run_strategies writes the comparison after every run: a comparison
stopped part-way keeps what it measured."""

import json

import pytest

from cosearch.search import loop, strategy_runs
from tests.helpers import quiet
from tests.tiny_search import tiny


def test_a_comparison_stopped_part_way_keeps_the_runs_done(tmp_path, monkeypatch):
    cfg = tiny(**{"search.episodes": 1})
    real = loop.run_setup
    calls = []

    def second_is_interrupted(setup, sub, **kwargs):
        calls.append(setup.strategy)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(setup, sub, **kwargs)

    monkeypatch.setattr(loop, "run_setup", second_is_interrupted)
    messages = []
    with pytest.raises(KeyboardInterrupt):
        strategy_runs.run_strategies(
            cfg, str(tmp_path), ["coexplore", "random"], log=messages.append
        )
    assert calls == ["coexplore", "random"]
    summary = json.loads((tmp_path / "comparison.json").read_text())
    assert list(summary["runs"]) == ["coexplore"]
    assert "| coexplore |" in (tmp_path / "comparison.md").read_text()
    assert messages[0].startswith("== run 1/2: seed 0, coexplore")
    assert any("1 run(s) done so far" in m for m in messages)

    # Run again: the first run is resumed (nothing to do), the second runs,
    # and the comparison holds both.
    monkeypatch.setattr(loop, "run_setup", real)
    text = strategy_runs.run_strategies(
        cfg, str(tmp_path), ["coexplore", "random"], log=quiet
    )
    summary = json.loads((tmp_path / "comparison.json").read_text())
    assert list(summary["runs"]) == ["coexplore", "random"]
    assert "| random |" in text
