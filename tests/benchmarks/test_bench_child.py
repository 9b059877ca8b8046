"""Smoke run of the real bench_child entry point."""

import json
import subprocess
import sys

import numpy as np
import pytest


def test_bench_child_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_child", "--smoke", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result
    for key in ("jax_images_per_s", "torch_images_per_s", "ratio", "compile_s"):
        assert key in result
    assert result["device_kind"] and result["jax_images_per_s"] > 0
    shape = result["shapes"]["8x8x1"]
    assert shape["compile_s"] > 0
    if result["torch_version"] is not None:
        assert shape["ratio"] == shape["jax_images_per_s"] / shape["torch_images_per_s"]


def test_bench_child_batched_smoke(tmp_path):
    """Both paths timed in one run, for each K; the same children reach the
    same accuracies (to one validation image) either way."""
    from tests.launch import smoke_benchmark

    result = smoke_benchmark(
        "benchmarks.bench_child", tmp_path, "--batched", "--val_images=200"
    )
    assert result["benchmark"] == "bench_child_batched"
    assert result["spaces"]["default"]["val_images"] == 200
    rows = result["spaces"]["default"]["counts"]
    assert sorted(rows) == ["1", "2"]
    # A program of two children holds twice the images of one.
    assert rows["2"]["batched_step_bytes"] > rows["1"]["batched_step_bytes"] > 0
    for k, row in rows.items():
        assert row["children"] == int(k)
        assert row["batched_s"] > 0 and row["per_arch_s"] > 0
        assert row["speedup"] == row["per_arch_s"] / row["batched_s"]
        assert row["batched_children_per_hour"] == 3600 * int(k) / row["batched_s"]
        assert row["max_accuracy_diff"] <= 1 / 200 + 1e-12


def _tiny_dataset(n=24, val=12, classes=3, shape=(6, 6, 1), scale=1.0):
    """Images whose pixels all hold the example's index (times ``scale``; to
    read the order back), labels index % classes; the validation split
    random."""
    from cosearch.data import Dataset, Split

    index = np.arange(n, dtype=np.float32) * np.float32(scale)
    images = np.broadcast_to(index[:, None, None, None], (n, *shape)).copy()
    labels = (np.arange(n) % classes).astype(np.int32)
    rng = np.random.default_rng(0)
    v = Split(
        rng.standard_normal((val, *shape)).astype(np.float32),
        rng.integers(0, classes, val).astype(np.int32),
    )
    return Dataset("tiny", Split(images, labels), v, v, classes, shape)


def test_torch_peer_batches_are_the_trainers(monkeypatch):
    """The peer's batch order is the one Trainer.train feeds, across epoch
    boundaries (24 images, batches of 5: 4 per epoch, 4 dropped)."""
    import jax

    from benchmarks import torch_peer
    from cosearch.child import train as train_module
    from cosearch.child.train import TrainConfig, Trainer

    dataset = _tiny_dataset()
    config = TrainConfig(steps=9, batch_size=5, eval_batch_size=4, head="gap")
    fed = []
    real_put = train_module.put

    def recording_put(tree, device):
        if isinstance(tree, tuple) and len(tree) == 2:  # a training batch
            fed.append(np.asarray(tree[0])[:, 0, 0, 0].astype(int))
        return real_put(tree, device)

    monkeypatch.setattr(train_module, "put", recording_put)
    key = jax.random.key(7)
    Trainer().train(((1, 2, 1),), dataset, config, key)
    _, shuffle_key = torch_peer.child_keys(key)
    expected = torch_peer.batch_indices(shuffle_key, 24, 5, 9)
    np.testing.assert_array_equal(np.stack(fed), expected)
    # Each epoch's first 20 examples are distinct.
    assert len(set(expected[:4].ravel())) == 20


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_torch_peer_trains_like_jax(head):
    """Same initial weights, batches and optimizer: the peer's loss curve is
    the JAX child's to float32 rounding."""
    pytest.importorskip("torch")
    import jax

    from benchmarks import torch_peer
    from cosearch.child.train import TrainConfig, Trainer

    dataset = _tiny_dataset(scale=1 / 24)
    config = TrainConfig(
        steps=6,
        batch_size=5,
        learning_rate=0.05,
        eval_batch_size=5,
        check_every=4,
        head=head,
    )
    layers = ((3, 4, 1), (1, 3, 2))
    key = jax.random.key(3)
    jax_res = Trainer().train(layers, dataset, config, key)
    data = torch_peer.torch_data(dataset, config)
    torch_res = torch_peer.train(layers, dataset, data, config, key)
    assert not jax_res.failed and not torch_res.failed
    np.testing.assert_allclose(torch_res.loss_curve, jax_res.loss_curve, rtol=1e-4)
    assert abs(torch_res.val_accuracy - jax_res.val_accuracy) <= 1 / 12 + 1e-9
    assert torch_res.wall_s >= torch_res.train_s + torch_res.eval_s > 0


def test_bench_child_proxy_smoke(tmp_path):
    """Children per hour of the proxy training, JAX and (if installed)
    PyTorch interleaved; each child's seconds split into compile, init,
    training steps and evaluation."""
    from tests.launch import smoke_benchmark

    result = smoke_benchmark("benchmarks.bench_child", tmp_path, "--proxy")
    assert result["benchmark"] == "bench_child_proxy"
    assert result["num_archs"] == len(result["children"]) == 2
    assert result["data"]["val_images"] == 200
    assert result["peak"]["flops_per_s"] > 0
    assert "3 x 2 x MACs" in result["flop_rule"]
    torch_on = result["torch_version"] is not None and not result["torch_note"]
    frameworks = ["jax", "jax_cached", "torch"] if torch_on else ["jax", "jax_cached"]
    assert [c["first"] for c in result["children"]] == (
        ["jax", "torch"] if torch_on else ["jax", "jax"]
    )
    for child in result["children"]:
        assert child["mmacs"] > 0
        if not torch_on:
            assert child["torch"] is None
        for fw in frameworks:
            row = child[fw]
            assert row["steps"] == 3 and not row["failed"]
            parts = row["compile_s"] + row["init_s"] + row["train_s"] + row["eval_s"]
            assert min(row["init_s"], row["train_s"], row["eval_s"]) >= 0
            assert parts <= row["wall_s"] + 1e-9
            assert 0 <= row["val_accuracy"] <= 1 and row["train_flops_per_s"] > 0
        assert child["jax"]["compile_s"] > 0
        # The second pass loads the first's programs: the same training.
        for key in ("val_accuracy", "final_loss", "steps"):
            assert child["jax_cached"][key] == child["jax"][key]
    # A second pass compiles nothing (programs from the persistent cache).
    cache = result["compile_cache"]
    assert cache["first_pass"]["compiled"] > 0
    assert cache["second_pass"] == {
        "compiled": 0,
        "loaded": cache["second_pass"]["loaded"],
    }
    assert cache["second_pass"]["loaded"] > 0
    for fw in frameworks:
        summary = result["frameworks"][fw]
        total = sum(c[fw]["wall_s"] for c in result["children"])
        assert summary["children_per_hour"] == pytest.approx(3600 * 2 / total)
        assert summary["children_per_hour"] > 0
        assert 0 < summary["share_of_peak"]
    if torch_on:
        ratio = result["children_per_hour_ratio"]
        assert ratio == pytest.approx(
            result["frameworks"]["jax"]["children_per_hour"]
            / result["frameworks"]["torch"]["children_per_hour"]
        )
    else:
        assert result["frameworks"]["torch"] is None and result["torch_note"]
    assert result["warm_steps"]["benchmark"] == "bench_child"
