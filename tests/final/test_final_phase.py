"""The final phase of a search: final trainings resumed, never redone, the
test split read by it alone, results carrying both accuracies."""

import dataclasses
import json
import os
import threading

import jax
import numpy as np
import pytest

from cosearch import data
from cosearch.child.train import Trainer
from cosearch.files.jsonl import read_jsonl
from cosearch.final import phase
from cosearch.final.runner import finalize, time_left
from cosearch.final.settings import final_key
from cosearch.final.store import FinalStore
from cosearch.search import loop as search
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.run_state import RUN_INFO_FILE
from cosearch.search.setup import build
from tests.helpers import quiet
from tests.tiny_search import tiny

# Seed 3: a front of three designs, so two architectures are finalized (the
# tests count 2 architectures x 2 seeds).
FINAL = {"final.max_designs": 2, "search.episodes": 2, "seed": 3}


class CountingTrainer:
    """A Trainer that counts its runs and can be told to stop (Ctrl-C)
    before a given run."""

    def __init__(self, interrupt_at=None):
        self.trainer = Trainer()
        self.calls = 0
        self.interrupt_at = interrupt_at
        self.lock = threading.Lock()  # runs may train in threads

    def train(self, *args, **kwargs):
        with self.lock:
            if self.interrupt_at is not None and self.calls == self.interrupt_at:
                raise KeyboardInterrupt
            self.calls += 1
        return self.trainer.train(*args, **kwargs)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny search without its final phase, and its setup."""
    workdir = str(tmp_path_factory.mktemp("final") / "run")
    config = tiny(**FINAL)
    config.final.max_designs = 0
    search.run(config, workdir, log=quiet)
    front = json.load(open(os.path.join(workdir, "pareto.json")))["front"]
    assert len({p["architecture"] for p in front}) >= 2, "the tests need 2 designs"
    config.final.max_designs = 2
    return workdir, build(config)


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_final_training_resumes_without_redoing_finished_runs(searched, tmp_path):
    src, setup = searched
    workdir = _copy(src, tmp_path / "run")
    info = json.load(open(os.path.join(workdir, RUN_INFO_FILE)))
    # Ctrl-C before the third of 2 architectures x 2 seeds.
    first = CountingTrainer(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        phase.run_final(setup, workdir, info, first, log=quiet)
    assert first.calls == 2 and len(FinalStore(workdir).runs()) == 2
    second = CountingTrainer()
    summary = phase.run_final(setup, workdir, info, second, log=quiet)
    runs = FinalStore(workdir).runs()
    assert second.calls == len(runs) - 2 and len(runs) == 4
    assert len({(r["architecture"], r["seed"]) for r in runs}) == 4
    third = CountingTrainer()
    again = phase.run_final(setup, workdir, info, third, log=quiet)
    assert third.calls == 0
    assert again.final["accuracy"] == summary.final["accuracy"]
    # A run's weights are kept and restore.
    variables = FinalStore(workdir).load(runs[0])
    assert set(variables) == {"params", "batch_stats"} and "head" in variables["params"]


def test_results_carry_proxy_and_final_accuracy(searched, tmp_path):
    src, setup = searched
    workdir = _copy(src, tmp_path / "run")
    info = json.load(open(os.path.join(workdir, RUN_INFO_FILE)))
    summary = phase.run_final(setup, workdir, info, Trainer(), log=quiet)
    best = json.load(open(os.path.join(workdir, "best_designs.json")))
    assert best["chosen_on"] == "final test accuracy"
    for key in ("OptSW", "OptHW", "proxy_OptSW", "proxy_OptHW"):
        pair = best[key]
        assert 0 <= pair["accuracy"] <= 1  # the proxy's, on validation
        assert pair["final"]["seeds"] == 2 and 0 <= pair["final"]["mean"] <= 1
    assert best["final_training"]["settings"]["test_images"] == len(setup.dataset.test)
    front = json.load(open(os.path.join(workdir, "pareto.json")))["front"]
    finalized = {d["architecture"] for d in best["finalized"]}
    for p in front:
        assert (p["final"] is not None) == (p["architecture"] in finalized)
    report = open(os.path.join(workdir, "report.md")).read()
    assert "## Final training" in report and "final test accuracy" in report
    assert "proxy accuracy" in report and "tie" in report
    f = summary.final["OptSW"]["final"]
    assert f"{100 * f['mean']:.2f}% ± {100 * f['std']:.2f}" in report


class Poisoned:
    """Stands for the test split: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")

    def __len__(self):
        raise AssertionError("the test split was read (len)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the test split was read (array)")


def test_the_search_never_reads_the_test_split(monkeypatch, tmp_path):
    real_load = data.load

    def load(*args, **kwargs):
        ds = real_load(*args, **kwargs)
        return ds._replace(test=data.Split(Poisoned(), Poisoned()))

    monkeypatch.setattr(data, "load", load)
    # A whole search (no final phase) reads no test image...
    search.run(tiny(), str(tmp_path / "search"), log=quiet)
    # ...and the final phase does (so the poison would have been noticed).
    with pytest.raises(AssertionError, match="test split was read"):
        search.run(tiny(**FINAL), str(tmp_path / "final"), log=quiet)


def test_a_search_runs_its_final_phase_and_fresh_clears_it(tmp_path):
    workdir = str(tmp_path / "run")
    summary = search.run(tiny(**FINAL), workdir, log=quiet)
    assert summary.final is not None and summary.final["OptSW"]["final"]
    runs = read_jsonl(os.path.join(workdir, "final", "runs.jsonl"))
    assert len(runs) == 4
    # Run again: the search is done and nothing is trained again.
    again = search.run(tiny(**FINAL), workdir, log=quiet)
    assert again.final["accuracy"] == summary.final["accuracy"]
    assert len(read_jsonl(os.path.join(workdir, "final", "runs.jsonl"))) == 4
    # Final settings may change on resume; the old runs are not reused.
    more = search.run(tiny(**FINAL, **{"final.steps": 4}), workdir, log=quiet)
    assert len(read_jsonl(os.path.join(workdir, "final", "runs.jsonl"))) == 8
    assert more.final["settings"]["train"]["steps"] == 4
    search.run(tiny(**FINAL), workdir, fresh=True, log=quiet)
    assert len(read_jsonl(os.path.join(workdir, "final", "runs.jsonl"))) == 4


def test_ranking_statements_order_ties_and_skip_the_pair_already_said():
    from cosearch.final.results import FinalAccuracy

    def acc(mean):
        return FinalAccuracy(mean, 0.0, mean, mean, 2, 0)

    finals = {"a": acc(0.85), "b": acc(0.845), "c": acc(0.82)}
    pairs = [
        {"architecture": "a", "accuracy": 0.70},
        {"architecture": "b", "accuracy": 0.74},
        {"architecture": "c", "accuracy": 0.60},
    ]
    words = phase.ranking_statements(pairs, finals, 0.012)
    assert words[0].startswith("`a` and `b` tie")
    assert words[1].startswith("`b` is more accurate than `c`")
    assert "another order" in words[2] and words[2].index("`b`") < words[2].index("`a`")
    # The OptSW/OptHW pair, already compared by its roles, is not said twice.
    skipped = phase.ranking_statements(pairs, finals, 0.012, frozenset(("a", "b")))
    assert skipped == words[1:]


def test_finalized_designs_are_placed_in_a_reference_set(searched, tmp_path):
    """With final.reference_set, each finalized design carries its
    percentile in the set, and report.md and best_designs.json show it; a
    set of another space is refused when the config is built."""
    import numpy as np

    from cosearch.final import reference

    src, setup = searched
    workdir = _copy(src, tmp_path / "run")
    info = json.load(open(os.path.join(workdir, RUN_INFO_FILE)))
    archs = ["1,4,1;1,4,1", "3,4,1;3,4,1", "5,4,1;5,4,1", "1,8,1;1,8,1"]
    runs = [
        {"architecture": a, "seed": s, "test_accuracy": acc, "failed": False}
        for a, acc in zip(archs, (0.0, 0.3, 0.6, 1.0), strict=True)
        for s in (0, 1)
    ]
    from cosearch.final.runner import settings_record

    settings = settings_record(setup.final, setup.dataset)
    ref = reference.from_runs(runs, archs, [0, 1], setup.drawn_for(), settings)
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(reference.to_json(ref)))
    config = tiny(**FINAL, **{"final.reference_set": str(path)})
    placed = build(config)
    np.testing.assert_array_equal(placed.reference.mean(), ref.mean())
    summary = phase.run_final(placed, workdir, info, Trainer(), log=quiet)
    for d in summary.final["designs"]:
        mean = d["final"]["mean"]
        assert d["percentile"] == pytest.approx(ref.percentile(mean))
    report = open(os.path.join(workdir, "report.md")).read()
    assert "percentile in the reference set" in report
    best = json.load(open(os.path.join(workdir, "best_designs.json")))
    assert best["OptSW"]["percentile"] is not None
    other = tiny(**FINAL, **{"final.reference_set": str(path), "space.depth": 3})
    with pytest.raises(ValueError, match="config.final.reference_set: .*another"):
        build(other)
    budget = tiny(**FINAL, **{"final.reference_set": str(path), "final.steps": 7})
    with pytest.raises(ValueError, match="trained with other final settings"):
        build(budget)
    missing = tiny(**FINAL, **{"final.reference_set": str(tmp_path / "no.json")})
    with pytest.raises(ValueError, match="config.final.reference_set: .*no such"):
        build(missing)


def _planned(searched):
    workdir, setup = searched
    return phase.planned(setup, read_jsonl(os.path.join(workdir, "history.jsonl")))


def _records(store):
    return sorted(
        (r["architecture"], r["seed"], r["test_accuracy"], r["final_loss"], r["steps"])
        for r in store.runs()
    )


def test_runs_in_threads_give_what_runs_one_after_another_give(searched, tmp_path):
    _, setup = searched
    designs = phase.planned(
        setup, read_jsonl(os.path.join(searched[0], "history.jsonl"))
    )
    stores = {}
    for parallel in (1, 2):
        final = dataclasses.replace(setup.final, parallel_runs=parallel)
        stores[parallel] = FinalStore(str(tmp_path / f"p{parallel}"))
        lines = []
        out = finalize(
            final, setup.dataset, stores[parallel], designs, Trainer(), lines.append
        )
        assert out.trained == 4 and len(out.finals) == 2
        # One line per run, numbered in order, each with an ETA.
        done = [line for line in lines if line.startswith("final ") and "ETA" in line]
        assert [d.split(":")[0] for d in done] == [f"final {i}/4" for i in (1, 2, 3, 4)]
    assert _records(stores[1]) == _records(stores[2])


def test_ctrl_c_with_runs_in_flight_keeps_every_run_it_trained(searched, tmp_path):
    _, setup = searched
    designs = phase.planned(
        setup, read_jsonl(os.path.join(searched[0], "history.jsonl"))
    )
    final = dataclasses.replace(setup.final, parallel_runs=2)
    store = FinalStore(str(tmp_path / "run"))
    trainer = CountingTrainer()

    pressed = []

    def interrupt():  # Ctrl-C (once) in the main thread after the first run is saved
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finalize(final, setup.dataset, store, designs, trainer, quiet, interrupt)
    # The runs in flight were waited for and saved; those not started were not.
    assert trainer.calls >= 2
    assert len(store.runs()) == trainer.calls


def test_a_run_stopped_in_its_thread_does_not_lose_the_run_beside_it(
    searched, tmp_path
):
    # The first run stops (Ctrl-C reaches its thread) after the second,
    # trained beside it, has ended: the second is kept.
    _, setup = searched
    designs = phase.planned(
        setup, read_jsonl(os.path.join(searched[0], "history.jsonl"))
    )
    final = dataclasses.replace(setup.final, parallel_runs=2)
    store = FinalStore(str(tmp_path / "run"))
    second_done = threading.Event()
    first_key = final_key(0)

    class FirstStopsLast:
        def train(self, arch, task, train, key, **kwargs):
            first = np.array_equal(
                jax.random.key_data(key), jax.random.key_data(first_key)
            )
            if str(arch) == designs[0][1]["architecture"] and first:
                assert second_done.wait(600)
                raise KeyboardInterrupt
            try:
                return Trainer().train(arch, task, train, key, **kwargs)
            finally:
                second_done.set()

    lines = []
    with pytest.raises(KeyboardInterrupt):
        finalize(final, setup.dataset, store, designs, FirstStopsLast(), lines.append)
    # (The runs after them may have started before the stop and be kept too.)
    kept = {(r["architecture"], r["seed"]) for r in store.runs()}
    arch = designs[0][1]["architecture"]
    assert (arch, 1) in kept and (arch, 0) not in kept
    assert f"final run {arch} seed 0 not kept: KeyboardInterrupt()" in lines


def test_parallel_runs_below_one_is_refused():
    with pytest.raises(SearchConfigError, match="parallel_runs must be >= 1, got 0"):
        build(tiny(**{"final.parallel_runs": 0}))


@pytest.mark.parametrize(
    "starts, now, workers, want",
    [
        ([], 100.0, 2, 0.0),  # nothing left
        ([0.0], 100.0, 2, 0.0),  # the other of a pair, started with the first
        ([50.0], 100.0, 2, 50.0),  # started half a run later
        ([None, None], 100.0, 1, 200.0),  # one after another
        ([100.0, None, None, None], 100.0, 2, 200.0),  # 1 in flight, 3 to come
        ([None, None, None], 100.0, 2, 200.0),  # two slots free, then one
    ],
)
def test_the_time_left_of_runs_in_flight_and_to_come(starts, now, workers, want):
    assert time_left(starts, 100.0, workers, now) == pytest.approx(want)
