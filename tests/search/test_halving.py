"""Successive halving of an episode's survivors: rungs at short budgets,
the best promoted to the proxy, compute counted, bad settings refused."""

import shutil

import jax
import pytest

from cosearch.child.train import Trainer
from cosearch.files.jsonl import read_jsonl
from cosearch.results.records import without_timing
from cosearch.search import loop as search
from cosearch.search import setup as search_setup
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.episode import Context
from cosearch.search.strategies import run_episode
from tests.tiny_search import tiny

# Rungs of 2 steps, halving rate 2, one child at the proxy's 4 steps.
HALVING = {
    "strategy": "random",
    "search.rung_steps": (2,),
    "search.halving_rate": 2,
    "search.candidates_per_episode": 8,
    "search.children_per_episode": 1,
}


def _episode(key_seed, **overrides):
    setup = search_setup.build(tiny(**{**HALVING, **overrides}))
    ctx = Context(setup, Trainer(), {}, log=lambda _: None)
    return run_episode(ctx, None, jax.random.key(key_seed), 0)


def test_the_best_of_a_rung_is_promoted_to_the_proxy():
    out = _episode(3)
    screened = [r for r in out.records if "rungs" in r]
    assert len(screened) == 2  # 1 child x rate^1
    trained = [r for r in out.records if r["status"] in ("trained", "failed")]
    assert len(trained) == 1 and "rungs" in trained[0]
    best = max(screened, key=lambda r: r["rungs"]["2"]["accuracy"])
    assert trained[0]["architecture"] == best["architecture"]
    # The other stays untrained at the proxy budget: no measured accuracy.
    other = next(r for r in screened if r is not trained[0])
    assert other["status"] == "survived" and other["accuracy"] is None
    # Compute: 2 children x 2 steps at the rung, 1 x 4 at the proxy, 32 a step.
    assert out.train_images == (2 * 2 + 4) * 32 and out.trained == 1
    again = _episode(3)
    assert [r["rungs"] for r in again.records if "rungs" in r] == [
        r["rungs"] for r in screened
    ]


def test_the_loss_sum_can_rank_a_rung():
    out = _episode(3, **{"search.rung_measure": "loss_sum"})
    screened = [r for r in out.records if "rungs" in r]
    (trained,) = [r for r in out.records if r["status"] in ("trained", "failed")]
    best = min(screened, key=lambda r: r["rungs"]["2"]["loss_sum"])
    assert trained["architecture"] == best["architecture"]


def test_a_compute_budget_counts_the_rungs(tmp_path):
    """A child at the proxy costs (4 + 2 x 2) x 32 = 256 images with its
    rung: 600 images buy two."""
    config = tiny(
        **{
            **HALVING,
            "search.episodes": 0,
            "search.max_train_images": 600,
        }
    )
    search.run(config, str(tmp_path), log=lambda _: None)
    metrics = read_jsonl(f"{tmp_path}/metrics.jsonl")
    assert metrics[-1]["children_trained_total"] == 2
    assert metrics[-1]["train_images_total"] <= 600
    history = read_jsonl(f"{tmp_path}/history.jsonl")
    assert any("rungs" in h for h in history)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("search.halving_rate", 1, "config.search.halving_rate: must be >= 2"),
        ("search.rung_steps", (0,), "must be increasing and >= 1"),
        ("search.rung_steps", (3, 2), "must be increasing and >= 1"),
        ("search.rung_steps", (4,), "below the proxy's 4 steps"),
        ("search.rung_steps", (1.5,), "whole numbers of steps"),
        ("search.rung_measure", "speed", "config.search.rung_measure: "),
    ],
)
def test_bad_halving_settings_are_refused(field, value, match):
    with pytest.raises(SearchConfigError, match=match) as err:
        search_setup.build(tiny(**{**HALVING, field: value}))
    assert "\n" not in str(err.value)


_REAL_TRAIN = Trainer.train


def _counting(monkeypatch, stop_after=None):
    """Count child trainings by (architecture, steps); raise KeyboardInterrupt
    instead of the training after ``stop_after`` of them."""
    calls = []

    def train(self, arch, dataset, config, key, *args, **kwargs):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append((str(arch), config.steps))
        return _REAL_TRAIN(self, arch, dataset, config, key, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train", train)
    return calls


def test_a_crash_mid_rung_resumes_without_training_again(tmp_path, monkeypatch):
    """Ctrl-C after 3 of the first rung's 4 trainings: the resumed run trains
    only what was left, and its history is the uninterrupted run's."""
    config = tiny(**{**HALVING, "search.children_per_episode": 2, "search.episodes": 2})
    straight = str(tmp_path / "straight")
    calls = _counting(monkeypatch)
    search.run(config, straight, log=lambda _: None)
    expected = [without_timing(h) for h in read_jsonl(f"{straight}/history.jsonl")]
    assert calls[:4] == [(a, 2) for a, _ in calls[:4]]  # the first rung
    everything = list(calls)

    resumed = str(tmp_path / "resumed")
    first = _counting(monkeypatch, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        search.run(config, resumed, log=lambda _: None)
    assert first == everything[:3]
    journal = read_jsonl(f"{resumed}/trainings.jsonl")
    assert len(journal) == 1 + 3  # the header and the finished trainings
    rest = _counting(monkeypatch)
    search.run(config, resumed, log=lambda _: None)
    assert rest == everything[3:]
    got = [without_timing(h) for h in read_jsonl(f"{resumed}/history.jsonl")]
    assert got == expected
    # The closing checkpoint emptied the journal.
    assert len(read_jsonl(f"{resumed}/trainings.jsonl")) == 1


def test_a_journal_of_another_config_is_not_used(tmp_path, monkeypatch):
    config = tiny(**{**HALVING, "search.episodes": 1})
    workdir = str(tmp_path / "w")
    _counting(monkeypatch, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        search.run(config, workdir, log=lambda _: None)
    # As a crash before the first checkpoint leaves it.
    shutil.rmtree(f"{workdir}/checkpoints")
    other = tiny(**{**HALVING, "search.episodes": 1, "train.learning_rate": 0.02})
    calls = _counting(monkeypatch)
    lines = []
    search.run(other, workdir, log=lines.append)
    assert len(calls) == 2 + 1  # the whole rung and the proxy child
    assert any("another config" in m for m in lines)
