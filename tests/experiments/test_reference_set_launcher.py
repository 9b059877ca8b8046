"""experiments.reference_set: built, resumed, extended; bad input in one line."""

import json

import numpy as np
import pytest

from cosearch.final import reference
from tests.launch import run_module

SMOKE = "--config=experiments/configs/default.py:smoke"
FAST = ("--config.final.steps=2",)


def _last_line(proc) -> str:
    """The launcher's one error line (JAX may warn before it)."""
    return proc.stderr.strip().splitlines()[-1]


def _runs(workdir):
    return (workdir / "final" / "runs.jsonl").read_text().splitlines()


def test_build_resume_and_extend(tmp_path):
    workdir, out = tmp_path / "ref", tmp_path / "ref.json"
    args = (SMOKE, *FAST, f"--workdir={workdir}", f"--out={out}")
    first = run_module("experiments.reference_set", *args, "--num_archs=2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "final 4/4" in first.stdout and "ETA" in first.stdout
    ref = json.loads(out.read_text())
    assert ref["summary"]["complete"] == 2 and ref["seeds"] == [0, 1]
    assert len(_runs(workdir)) == 4
    # The same command trains nothing; a larger set trains only the new one.
    again = run_module("experiments.reference_set", *args, "--num_archs=2")
    assert again.returncode == 0 and "final 1/" not in again.stdout
    # A fresh workdir: the runs the set's file holds are not trained again.
    fresh = tmp_path / "fresh"
    more = run_module(
        "experiments.reference_set",
        SMOKE,
        *FAST,
        f"--workdir={fresh}",
        f"--out={out}",
        "--num_archs=3",
    )
    assert more.returncode == 0, more.stderr[-2000:]
    assert "4 done before" in more.stdout and len(_runs(fresh)) == 2
    grown = json.loads(out.read_text())
    names = [a["architecture"] for a in grown["architectures"]]
    assert names[:2] == [a["architecture"] for a in ref["architectures"]]
    assert grown["summary"]["complete"] == 3
    # A smaller set than the file's is refused, nothing written.
    fewer = run_module("experiments.reference_set", *args, "--num_archs=2")
    assert fewer.returncode == 2
    assert "smaller than the 3 architectures" in _last_line(fewer)
    assert json.loads(out.read_text()) == grown


def test_a_set_of_another_space_is_refused(built_set, tmp_path):
    workdir, out = built_set
    before = out.read_text()
    other = run_module(
        "experiments.reference_set",
        SMOKE,
        *FAST,
        f"--workdir={tmp_path / 'other'}",
        f"--out={out}",
        "--num_archs=3",
        "--config.space.depth=4",
    )
    assert other.returncode == 2 and "Traceback" not in other.stderr
    last = _last_line(other)
    assert last.startswith("error: reference set ") and "another space" in last
    assert out.read_text() == before


def test_bad_flags_end_in_one_line(tmp_path):
    out = run_module(
        "experiments.reference_set", SMOKE, f"--workdir={tmp_path}", "--num_archs=1"
    )
    assert out.returncode == 2
    assert _last_line(out) == "error: --num_archs must be >= 2, got 1"
    out = run_module(
        "experiments.reference_set", SMOKE, f"--workdir={tmp_path}", "--seeds=1"
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert _last_line(out).startswith("error: --seeds")


@pytest.fixture(scope="module")
def built_set(tmp_path_factory):
    """(workdir, file) of a reference set of 3 smoke architectures, built once
    for this module's tests that read it (none changes it)."""
    folder = tmp_path_factory.mktemp("reference_set")
    workdir, ref = folder / "ref", folder / "ref.json"
    built = run_module(
        "experiments.reference_set",
        SMOKE,
        *FAST,
        f"--workdir={workdir}",
        f"--out={ref}",
        "--num_archs=3",
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return workdir, ref


def test_score_fidelity_against_a_built_set(built_set, tmp_path):
    _, ref = built_set
    out = tmp_path / "scores.json"
    scored = run_module(
        "experiments.score_fidelity",
        SMOKE,
        f"--reference={ref}",
        "--scores=synflow,naswot,receptive_field",
        "--images=4",
        f"--out={out}",
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = result["training_free"]
    assert set(rows) == {"synflow", "naswot", "receptive_field"}
    for row in rows.values():
        assert row["architectures"] == 3 and -1 <= row["tau"] <= 1
        assert row["ms_per_arch"] >= 0 and 0 <= row["top_hits"] <= 1
    assert rows["synflow"]["ms_per_arch"] > 0  # a network score takes time
    assert len(result["values"]["synflow"]) == 3
    # Scored again reusing the first run: synflow is not computed again.
    again = tmp_path / "again.json"
    reused = run_module(
        "experiments.score_fidelity",
        SMOKE,
        f"--reference={ref}",
        "--scores=synflow,log_macs",
        "--combine=synflow+log_macs",
        "--images=4",
        f"--reuse={out}",
        f"--out={again}",
    )
    assert reused.returncode == 0, reused.stderr[-2000:]
    assert "reusing synflow" in reused.stdout
    assert "synflow: 3 architectures in" not in reused.stdout
    second = json.loads(again.read_text())
    assert second["values"]["synflow"] == result["values"]["synflow"]
    assert second["training_free"]["synflow"] == rows["synflow"]
    # The joined score, as the search joins it: the mean of the parts'
    # values standardised over the set; its time the parts' summed.
    joined = second["training_free"]["synflow+log_macs"]
    ref_set = reference.read(str(ref))
    parts = [
        np.array([second["values"][n][a] for a in ref_set.architectures])
        for n in ("synflow", "log_macs")
    ]
    z = np.mean([(v - v.mean()) / v.std() for v in parts], axis=0)
    want = ref_set.tau(z)
    assert joined["tau"] == pytest.approx(want)
    assert joined["ms_per_arch"] == pytest.approx(
        second["training_free"]["synflow"]["ms_per_arch"]
        + second["training_free"]["log_macs"]["ms_per_arch"]
    )
    assert set(joined["pick_percentile"]) == set()  # 3 architectures: no draw of 8
    for combine, said in (
        ("synflow", "joins no scores"),
        ("synflow+nosuch", "unknown training-free score"),
        ("synflow+naswot", "needs naswot in --scores"),
    ):
        bad = run_module(
            "experiments.score_fidelity",
            SMOKE,
            f"--reference={ref}",
            "--scores=synflow,log_macs",
            f"--combine={combine}",
            f"--out={tmp_path / 'never.json'}",
        )
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert _last_line(bad).startswith("error: --combine: ") and said in _last_line(
            bad
        )
    assert not (tmp_path / "never.json").exists()
    # Unknown scores and a set of another space end in one line.
    bad = run_module(
        "experiments.score_fidelity", SMOKE, f"--reference={ref}", "--scores=nosuch"
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert _last_line(bad).startswith("error: --scores: unknown training-free score")
    other = run_module(
        "experiments.score_fidelity",
        SMOKE,
        "--config.space.depth=4",
        f"--reference={ref}",
    )
    assert other.returncode == 2 and "another space" in _last_line(other)


def test_proxy_fidelity_against_a_reference_set(built_set, tmp_path):
    _, ref = built_set
    out = tmp_path / "proxy.json"
    proc = run_module(
        "experiments.proxy_fidelity",
        SMOKE,
        "--num_archs=3",
        "--seeds=0",
        f"--reference={ref}",
        "--eval_steps=2",
        f"--out={out}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    names = [a["architecture"] for a in json.loads(ref.read_text())["architectures"]]
    assert result["architectures"] == names
    assert len(result["reference"]["runs"]) == 6  # 3 architectures x 2 seeds
    assert list(result["proxies"][0]["summary"]["by_steps"]) == ["2", "5"]
    # The first architectures of a set are a smaller draw's: its runs serve.
    two = run_module(
        "experiments.proxy_fidelity",
        SMOKE,
        "--num_archs=2",
        "--seeds=0",
        f"--reference={ref}",
        f"--out={out}",
    )
    assert two.returncode == 0, two.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["architectures"] == names[:2]
    assert len(result["reference"]["runs"]) == 4
