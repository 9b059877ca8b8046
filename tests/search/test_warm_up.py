"""Warm-up episodes (``search.warm_episodes``): coexplore's controller learns
from the fast level and the training-free signal before the first child."""

import pytest

from cosearch.files.jsonl import read_jsonl
from cosearch.search import loop as search
from cosearch.search.config_checks import SearchConfigError
from tests.helpers import quiet
from tests.tiny_search import tiny

WARM = {
    "search.episodes": 0,
    "search.max_children": 2,
    "search.candidates_per_episode": 6,
    "search.children_per_episode": 1,
    "search.accuracy_signal": "deep_layers",
    "search.warm_episodes": 3,
}


def test_warm_episodes_train_nothing_and_update_the_controller(tmp_path):
    messages = []
    search.run(tiny(**WARM), str(tmp_path), log=messages.append)
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    history = read_jsonl(tmp_path / "history.jsonl")
    warm, rest = metrics[:3], metrics[3:]
    assert [m["warm_up"] for m in warm] == [True] * 3
    assert all(m["trained"] == 0 and m["train_images"] == 0 for m in warm)
    assert rest and not any(m["warm_up"] for m in rest)
    # The budget counts children only: two trained after the warm-up.
    assert metrics[-1]["children_trained_total"] == 2
    # A warm episode with a survivor rewards it by the signal and updates
    # the controller (its loss is logged), none is trained.
    warm_rows = [h for h in history if h["episode"] < 3]
    survived = [h for h in warm_rows if h["status"] == "survived"]
    assert survived, "no warm-up proposal survived the fast level"
    assert all(h["status"] in ("pruned", "survived") for h in warm_rows)
    assert all(h["predicted_accuracy"] is not None for h in survived)
    assert any(m["loss"] is not None for m in warm)
    lines = [m for m in messages if m.startswith("episode ") and "pruned" in m]
    assert "(warm-up: signal only)" in lines[0]
    assert "(warm-up" not in lines[3]


def test_warm_episodes_are_not_idle_episodes(tmp_path):
    """max_idle_episodes counts episodes that could have trained a child."""
    cfg = tiny(**{**WARM, "search.max_idle_episodes": 1, "search.max_children": 1})
    search.run(cfg, str(tmp_path), log=quiet)
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert metrics[-1]["children_trained_total"] == 1


def test_the_predictor_cannot_warm_up(tmp_path):
    cfg = tiny(**{**WARM, "search.accuracy_signal": "predictor"})
    with pytest.raises(SearchConfigError, match="search.warm_episodes.*training-free"):
        search.run(cfg, str(tmp_path / "w"), log=quiet)
    assert not (tmp_path / "w" / "history.jsonl").exists()


def test_negative_warm_episodes_are_refused(tmp_path):
    cfg = tiny(**{**WARM, "search.warm_episodes": -1})
    with pytest.raises(SearchConfigError, match="search.warm_episodes"):
        search.run(cfg, str(tmp_path / "w"), log=quiet)


def test_random_screen_has_no_controller_to_warm(tmp_path):
    """Only coexplore reads the field: random_screen trains from episode 1."""
    cfg = tiny(**{**WARM, "strategy": "random_screen", "search.max_children": 1})
    search.run(cfg, str(tmp_path), log=quiet)
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert not any(m["warm_up"] for m in metrics)
    assert metrics[-1]["children_trained_total"] == 1
