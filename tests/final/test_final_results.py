"""Final accuracies from run records, the designs picked and chosen on them,
and the tie rule."""

import math

import pytest

from cosearch.final import results, settings


def _run(arch, seed, acc, failed=False):
    return {"architecture": arch, "seed": seed, "test_accuracy": acc, "failed": failed}


def test_aggregate_mean_spread_and_failures():
    runs = [
        _run("a", 0, 0.80),
        _run("a", 1, 0.84),
        _run("b", 0, 0.70),
        _run("b", 1, 0.50, failed=True),  # counts as 0
        _run("c", 0, 0.90),  # seed 1 missing
    ]
    out = results.aggregate(runs, seeds=2)
    assert set(out) == {"a", "b"}
    a = out["a"]
    assert a.mean == pytest.approx(0.82)
    # sample std of (0.80, 0.84) = 0.04 / sqrt(2)
    assert a.std == pytest.approx(0.04 / math.sqrt(2))
    assert (a.low, a.high, a.seeds, a.failed) == (0.80, 0.84, 2, 0)
    assert out["b"].mean == pytest.approx(0.35) and out["b"].failed == 1
    assert results.aggregate(runs)["c"].seeds == 1


def test_a_later_record_of_a_seed_replaces_the_earlier_one():
    out = results.aggregate([_run("a", 0, 0.1), _run("a", 0, 0.9)])
    assert out["a"].mean == 0.9 and out["a"].seeds == 1


def _pair(arch, acc, fps, design="d"):
    return {
        "architecture": arch,
        "accuracy": acc,
        "throughput_fps": fps,
        "design": design,
    }


def test_picks_stop_at_the_architecture_count_and_keep_free_designs():
    sw, hw = _pair("a", 0.9, 1000), _pair("b", 0.89, 3000)
    front = [sw, _pair("a", 0.9, 1500, "d2"), hw, _pair("c", 0.85, 4000)]
    got = results.picks(sw, hw, front, max_designs=2)
    assert [(r, p["architecture"]) for r, p in got] == [
        ("OptSW", "a"),
        ("OptHW", "b"),
        ("front 1", "a"),  # another design of a: no training, kept
    ]
    assert [p["architecture"] for _, p in results.picks(sw, hw, front, 3)][-1] == "c"
    assert results.picks(sw, hw, front, 0) == []
    assert results.picks(None, None, [], 2) == []


def test_choose_again_on_final_accuracy():
    pairs = [_pair("a", 0.90, 1000), _pair("b", 0.85, 3000), _pair("c", 0.88, 2000)]
    finals = {
        "a": results.FinalAccuracy(0.860, 0, 0, 0, 2, 0),
        "b": results.FinalAccuracy(0.875, 0, 0, 0, 2, 0),
        "c": results.FinalAccuracy(0.870, 0, 0, 0, 2, 0),
    }
    fps = lambda p: p["throughput_fps"]  # noqa: E731
    sw, hw = results.choose(pairs, finals, fps, margin=0.01)
    # OptSW: best final accuracy (b, though its proxy accuracy was lowest);
    # OptHW: fastest within 1 point of 87.5%: b (3000 images/s).
    assert sw["architecture"] == "b" and hw["architecture"] == "b"
    sw, hw = results.choose(pairs[:1] + pairs[2:], finals, fps, margin=0.01)
    assert sw["architecture"] == "c" and hw["architecture"] == "c"
    # A faster pair just outside the margin is not OptHW; inside it, it is.
    pairs.append(_pair("d", 0.80, 9000))
    finals["d"] = results.FinalAccuracy(0.8645, 0, 0, 0, 2, 0)  # 1.05 below b
    sw, hw = results.choose(pairs, finals, fps, margin=0.01)
    assert sw["architecture"] == "b" and hw["architecture"] == "b"
    sw, hw = results.choose(pairs, finals, fps, margin=0.011)
    assert sw["architecture"] == "b" and hw["architecture"] == "d"
    assert results.choose(pairs, {}, fps, 0.01) == (None, None)


def test_tie_rule_on_hand_made_accuracies():
    # noise 0.4 points, 2 seeds: margin = 2 * 0.004 * sqrt(2 / 2) = 0.008.
    margin = settings.tie_margin(0.004, 2)
    assert margin == pytest.approx(0.008)
    # 3 seeds: 2 * 0.004 * sqrt(2/3)
    assert settings.tie_margin(0.004, 3) == pytest.approx(0.008 * math.sqrt(2 / 3))
    tie = results.compare_text("A", 0.870, "B", 0.864, margin)
    assert "tie on final accuracy" in tie and "0.60 points" in tie
    win = results.compare_text("A", 0.860, "B", 0.870, margin)
    assert win.startswith("B is more accurate than A (1.00 points")
    # Exactly the margin (0.878 - 0.870 is 0.008000000000000007 in floats).
    edge = results.compare_text("A", 0.878, "B", 0.870, margin)
    assert "tie on final accuracy" in edge
    beyond = results.compare_text("A", 0.8785, "B", 0.870, margin)
    assert beyond.startswith("A is more accurate than B (0.85 points")


def test_final_keys_do_not_depend_on_anything_but_the_seed():
    import jax

    a, b = settings.final_key(0), settings.final_key(0)
    assert (jax.random.key_data(a) == jax.random.key_data(b)).all()
    c = settings.final_key(1)
    assert not (jax.random.key_data(a) == jax.random.key_data(c)).all()


def test_final_settings_refuse_one_seed_and_bad_noise():
    from cosearch.child.train import TrainConfig

    with pytest.raises(ValueError, match="seeds must be >= 2"):
        settings.FinalSettings(TrainConfig(), 1, 2, 0.004)
    with pytest.raises(ValueError, match="noise"):
        settings.FinalSettings(TrainConfig(), 2, 2, -0.1)
    with pytest.raises(ValueError, match="max_designs"):
        settings.FinalSettings(TrainConfig(), 2, -1, 0.004)
    assert not settings.FinalSettings(TrainConfig(), 2, 0, 0.004).enabled


def test_final_task_trains_on_train_and_val_and_scores_test():
    import numpy as np

    from cosearch import data

    ds = data.load("synthetic", val_fraction=0.25)
    task = settings.final_task(ds)
    assert len(task.train) == len(ds.train) + len(ds.val)
    assert task.val is ds.test and task.test is ds.test
    # In the order of the training file: whatever the split, the same images.
    np.testing.assert_array_equal(task.train.index, np.arange(len(task.train)))
    other = settings.final_task(data.load("synthetic", val_fraction=0.5))
    np.testing.assert_array_equal(other.train.images, task.train.images)
    np.testing.assert_array_equal(other.train.labels, task.train.labels)
