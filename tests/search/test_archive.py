"""A comparison's finished runs kept without checkpoints and weights are read
back, not run again; a run given more budget, or of another config, is not
taken for finished."""

import json
import os
import shutil

import pytest

from cosearch.final import phase
from cosearch.search import archive, loop, strategy_runs
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.setup import build
from tests.helpers import quiet
from tests.tiny_search import tiny

FINAL = {"search.episodes": 1, "final.max_designs": 1, "final.seeds": 2}


def _setup(cfg, strategy="random", seed=0):
    cfg = cfg.copy_and_resolve_references()
    cfg.strategy, cfg.seed = strategy, seed
    return build(cfg)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny comparison run with an archive: (workdir, archive, config)."""
    root = tmp_path_factory.mktemp("archived")
    cfg = tiny(**FINAL)
    work, kept = root / "work", root / "kept"
    strategy_runs.run_strategies(
        cfg, str(work), ["random"], seeds=[0, 1], log=quiet, archive=str(kept)
    )
    return work, kept, cfg


def test_the_archive_holds_results_only(compared):
    work, kept, _ = compared
    run = kept / "seed0" / "random"
    names = {
        os.path.relpath(os.path.join(d, f), run)
        for d, _, files in os.walk(run)
        for f in files
    }
    src = work / "seed0" / "random"
    assert names == {n for n in archive.ARCHIVE_FILES if (src / n).exists()}
    assert "best_designs.json" in names and os.path.join("final", "runs.jsonl") in names
    assert not (run / "checkpoints").exists()
    assert (work / "seed0" / "random" / "checkpoints").is_dir()
    assert (work / "seed0" / "random" / "final" / "weights").is_dir()
    assert not (run / "final" / "weights").exists()


def test_a_comparison_goes_on_from_its_archive(compared, tmp_path, monkeypatch):
    work, kept, cfg = compared
    before = json.loads((work / "comparison.json").read_text())
    kept_copy = tmp_path / "kept"
    shutil.copytree(kept, kept_copy)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(loop, "run_setup", must_not_run)
    messages = []
    # A fresh workdir (another machine): every run is read from the archive.
    strategy_runs.run_strategies(
        cfg,
        str(tmp_path / "work"),
        ["random"],
        seeds=[0, 1],
        log=messages.append,
        archive=str(kept_copy),
    )
    after = json.loads((tmp_path / "work" / "comparison.json").read_text())
    assert after["runs"] == before["runs"]
    assert after["summary"] == before["summary"]
    assert sum("finished before" in m for m in messages) == 2
    # The archive copied into a workdir reads the same way, without --archive.
    shutil.copytree(kept_copy, tmp_path / "work2")
    strategy_runs.run_strategies(
        cfg, str(tmp_path / "work2"), ["random"], seeds=[0, 1], log=quiet
    )
    again = json.loads((tmp_path / "work2" / "comparison.json").read_text())
    assert again["runs"] == before["runs"]


def test_only_a_finished_run_of_the_same_config_counts(compared, tmp_path):
    _, kept, cfg = compared
    run = str(kept / "seed0" / "random")
    assert archive.finished(run, _setup(cfg))
    # Another seed's setup reads another folder; this one is not its run.
    with pytest.raises(SearchConfigError, match="another config .*seed"):
        archive.finished(run, _setup(cfg, seed=1))
    # More budget: the run is not finished (it is resumed, not read).
    more = tiny(**{**FINAL, "search.episodes": 2})
    assert not archive.finished(run, _setup(more))
    # More final designs or seeds than were trained: not finished.
    assert not archive.finished(run, _setup(tiny(**{**FINAL, "final.seeds": 3})))
    # Other final settings (the weights' fingerprint differs): not finished.
    assert not archive.finished(run, _setup(tiny(**{**FINAL, "final.steps": 4})))
    # Another config on a field the run depends on: one clear error.
    other = tiny(**{**FINAL, "train.learning_rate": 0.5})
    with pytest.raises(SearchConfigError, match="train.learning_rate"):
        archive.finished(run, _setup(other))
    # A folder with checkpoints is a run to resume, whatever it holds.
    copy = tmp_path / "with_ckpt"
    shutil.copytree(run, copy)
    (copy / "checkpoints").mkdir()
    assert not archive.finished(str(copy), _setup(cfg))
    # Without its final training (a search only), nothing is finished.
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    best = json.loads((bare / "best_designs.json").read_text())
    best.pop("final_training")
    (bare / "best_designs.json").write_text(json.dumps(best))
    assert not archive.finished(str(bare), _setup(cfg))


class _Reference:
    """A stand-in reference set: percentile = the accuracy itself."""

    def percentile(self, accuracy):
        return accuracy


def test_percentiles_are_taken_in_the_reference_set_as_it_stands(compared):
    _, kept, _ = compared
    run = str(kept / "seed0" / "random")
    view = strategy_runs.final_view(run, _Reference())
    finals = [d for d in view["designs"] if d.get("final")]
    assert finals
    for d in finals:
        assert d["percentile"] == d["final"]["mean"]
    assert strategy_runs.final_view(run)["designs"][0]["percentile"] is None


def test_a_run_stopped_part_way_resumes_from_the_archive(
    compared, tmp_path, monkeypatch
):
    work, _, cfg = compared
    real = phase.finalize
    trained = []

    def stopped_at_second_training(final, dataset, store, designs, trainer, log, **kw):
        class Stopping:
            def train(self, *args, **kwargs):
                if trained:
                    raise KeyboardInterrupt
                trained.append(1)
                return trainer.train(*args, **kwargs)

        return real(final, dataset, store, designs, Stopping(), log, **kw)

    monkeypatch.setattr(phase, "finalize", stopped_at_second_training)
    kept = tmp_path / "kept"
    messages = []
    with pytest.raises(KeyboardInterrupt):
        strategy_runs.run_strategies(
            cfg,
            str(tmp_path / "a"),
            ["random"],
            seeds=[0],
            log=messages.append,
            archive=str(kept),
        )
    run = kept / "seed0" / "random"
    assert any("kept in" in m and "checkpoints included" in m for m in messages)
    assert (run / "checkpoints").is_dir() and (run / "final" / "weights").is_dir()
    assert not (run / ".lock").exists()
    assert not archive.finished(str(run), _setup(cfg))

    # Another machine: an empty workdir, the archive alone. The search is
    # not run again; the final phase trains the one run left.
    monkeypatch.setattr(phase, "finalize", real)
    messages = []
    strategy_runs.run_strategies(
        cfg,
        str(tmp_path / "b"),
        ["random"],
        seeds=[0],
        log=messages.append,
        archive=str(kept),
    )
    said = "\n".join(messages)
    assert "resuming the run kept in flight" in said
    assert "1 done before" in said and "episode 1:" not in said
    # The archive now holds the results alone, and they are a straight
    # run's (the fixture's seed 0).
    assert not (run / "checkpoints").exists()
    assert not (run / "final" / "weights").exists()
    assert archive.finished(str(run), _setup(cfg))
    straight = strategy_runs.final_view(str(work / "seed0" / "random"))
    resumed = strategy_runs.final_view(str(run))
    fields = ("role", "architecture", "proxy_accuracy", "final")
    assert [{k: d[k] for k in fields} for d in resumed["designs"]] == [
        {k: d[k] for k in fields} for d in straight["designs"]
    ]


def test_an_unwritable_archive_is_refused_before_any_run(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")

    def must_not_run(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(loop, "run_setup", must_not_run)
    with pytest.raises(SearchConfigError, match="cannot create it"):
        strategy_runs.run_strategies(
            tiny(**FINAL),
            str(tmp_path / "work"),
            ["random"],
            log=quiet,
            archive=str(blocker / "archive"),
        )
