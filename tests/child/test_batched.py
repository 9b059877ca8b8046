"""Children trained together: each computes its own network, whatever its
batchmates; one program per (stride pattern, batch size); the search gives
the same history batched or not.

Tolerance: a child's loss curve in a batch equals its curve trained alone to
rtol 1e-4 (float32 sums over padded zeros run in another order and through
another convolution algorithm for the padded shapes; the differences measured
here are ~1e-7, and SGD over a few steps does not amplify them past 1e-5);
its validation accuracy to one image (a logit near a tie may flip).
"""

import dataclasses
import textwrap

import jax
import numpy as np
import pytest

from cosearch import data
from cosearch.child import batched
from cosearch.child import batches as child_batches
from cosearch.child.train import TrainConfig, Trainer
from cosearch.hardware.architecture import Architecture
from cosearch.search import loop as search
from tests.helpers import history, quiet
from tests.launch import free_port, launch_search, run_script
from tests.tiny_search import tiny

KMAX, CMAX = 5, 12
CONFIG = TrainConfig(
    steps=6, batch_size=32, learning_rate=0.05, eval_batch_size=64, check_every=3
)
FIXED = ["3,8,1;5,12,1;1,4,1", "1,4,1;3,4,1;5,8,1", "5,12,1;1,12,1;3,8,1"]
PREDICTABLE = ["3,8,1;5,12,2;1,4,1", "5,4,1;1,8,2;3,12,1"]


@pytest.fixture(scope="module")
def synthetic():
    return data.load("synthetic", seed=0)


def _keys(count, seed=0):
    return [jax.random.fold_in(jax.random.key(seed), i) for i in range(count)]


def _close(together, alone, nval):
    assert together.steps == alone.steps and not together.failed
    np.testing.assert_allclose(together.loss_curve, alone.loss_curve, rtol=1e-4)
    assert abs(together.val_accuracy - alone.val_accuracy) <= 1.0 / nval + 1e-12


# The accelerators' path (XLA's own conv gradient under vmap), and Adam with
# clipping, warm-up and two epochs; the gap head (CONFIG has the flatten one).
OTHER = dataclasses.replace(
    CONFIG,
    steps=None,
    epochs=2,
    optimizer="adam",
    learning_rate=0.005,
    grad_clip=1.0,
    warmup_steps=2,
    head_lr_scale=0.1,
    grad_impl="xla",
    head="gap",
)


@pytest.mark.parametrize("config", [CONFIG, OTHER], ids=["sgd", "adam_xla"])
@pytest.mark.parametrize("texts", [FIXED, PREDICTABLE], ids=["fixed", "predictable"])
def test_a_child_in_a_batch_trains_as_it_does_alone(synthetic, texts, config):
    archs = [Architecture.parse(t) for t in texts]
    keys = _keys(len(archs))
    together = batched.BatchedTrainer(KMAX, CMAX).train(archs, synthetic, config, keys)
    trainer = Trainer()
    nval = len(synthetic.val.labels)
    for arch, key, res in zip(archs, keys, together, strict=True):
        _close(res, trainer.train(arch, synthetic, config, key), nval)


def test_batchmates_do_not_change_a_child(synthetic):
    archs = [Architecture.parse(t) for t in FIXED]
    keys = _keys(3)
    bt = batched.BatchedTrainer(KMAX, CMAX)
    alone = bt.train(archs[:1], synthetic, CONFIG, keys[:1])[0]
    among = bt.train(archs, synthetic, CONFIG, keys)[0]
    reordered = bt.train(archs[::-1], synthetic, CONFIG, keys[::-1])[-1]
    for res in (among, reordered):
        _close(res, alone, len(synthetic.val.labels))


@pytest.mark.parametrize("grad_impl", ["im2col", "xla"])
def test_a_nan_child_fails_alone(synthetic, monkeypatch, grad_impl):
    archs = [Architecture.parse(t) for t in FIXED]
    keys = _keys(3)
    bt = batched.BatchedTrainer(KMAX, CMAX)
    config = dataclasses.replace(CONFIG, grad_impl=grad_impl)
    clean = bt.train(archs, synthetic, config, keys)
    real_embed = batched.embed
    calls = []

    def poisoned(variables, arch, *args):
        out = real_embed(variables, arch, *args)
        calls.append(arch)
        if len(calls) == 2:  # the second child of the batch
            out["params"]["head"]["kernel"][:] = np.nan
        return out

    monkeypatch.setattr(batched, "embed", poisoned)
    dirty = bt.train(archs, synthetic, config, keys)
    assert dirty[1].failed and dirty[1].val_accuracy == 0.0
    assert "loss became nan" in dirty[1].reason and dirty[1].steps == 3
    for i in (0, 2):
        assert dirty[i].loss_curve == clean[i].loss_curve
        assert dirty[i].val_accuracy == clean[i].val_accuracy


def test_one_program_per_stride_pattern_and_batch_size(synthetic):
    bt = batched.BatchedTrainer(KMAX, CMAX)
    fixed = [Architecture.parse(t) for t in FIXED]
    first = bt.train(fixed[:2], synthetic, CONFIG, _keys(2))
    assert bt.trace_count == 2 and first[0].compile_s > 0  # step + evaluate
    # Other kernels and channels, same strides and batch size: no new program.
    again = bt.train(fixed[1:], synthetic, CONFIG, _keys(2, seed=1))
    assert bt.trace_count == 2 and again[0].compile_s == 0.0
    bt.train(fixed, synthetic, CONFIG, _keys(3))  # 3 children run as 4
    assert bt.trace_count == 4
    bt.train([Architecture.parse(PREDICTABLE[0])], synthetic, CONFIG, _keys(1))
    assert bt.trace_count == 6
    assert child_batches.padded_size(3) == 4 and child_batches.padded_size(65) == 64
    assert child_batches.padded_size(3, devices=2) == 4  # two per device
    assert child_batches.padded_size(5, devices=2) == 8
    assert child_batches.padded_size(3, devices=3) == 3
    assert child_batches.padded_size(200, devices=2) == 128


def test_deal_groups_by_strides_and_spreads_over_devices():
    archs = [Architecture.parse(t) for t in FIXED + PREDICTABLE]
    deal, dealt = child_batches.deal, child_batches.Dealt
    assert deal(archs, range(5)) == dealt([], [(0, 1, 2), (3, 4)])
    # One device per process: one batch per device of the run.
    assert deal(archs, range(5), 1, 2).single == [(0, 1), (2,), (3,), (4,)]
    # Two devices: groups that fill them are split over them; smaller ones
    # (the single child of a pattern) run one batch per device.
    three = [*archs, Architecture.parse("3,8,2;1,4,1;3,4,1")]
    assert deal(three, range(6), 2) == dealt([(0, 1, 2), (3, 4)], [(5,)])
    # Two processes of two devices: a group of three goes to both processes.
    assert deal(three, range(6), 2, 2) == dealt([(0, 1), (2,), (3, 4)], [(5,)])
    assert deal(three, [0, 1, 2, 0], 1, 4).single == [(0,), (1,), (2,), (0,)]
    assert deal(archs, [4, 0], 8) == dealt([], [(4,), (0,)])
    assert deal(archs * 2, range(10), 2, 2).split[:2] == [(0, 1, 2), (5, 6, 7)]
    # 15 children of one pattern, two processes of 8 devices: both processes
    # get a batch (8 and 7, the second with a filler), not one of 15.
    many = [archs[0]] * 15
    assert [len(b) for b in deal(many, range(15), 8, 2).split] == [8, 7]


def test_evaluation_shares_its_batch_among_children():
    # 500 image-evaluations per device shared by the children, never fewer
    # images than a training step's batch (nor more than eval_batch_size).
    assert child_batches.eval_images(500, 1) == 500
    assert child_batches.eval_images(500, 4) == 125
    assert child_batches.eval_images(500, 64, batch_size=64) == 64
    assert child_batches.eval_images(500, 8, devices=2, batch_size=64) == 125
    assert child_batches.eval_images(32, 64, batch_size=64) == 32
    assert child_batches.eval_images(3, 64) == 1


def test_placement_of_none_one_and_no_devices():
    device = jax.local_devices()[0]
    for where in (None, ()):
        p = child_batches.Placement.of(where)
        assert (p.devices, p.count, p.default, p.children) == ((), 1, None, None)
    for where in (device, [device]):
        p = child_batches.Placement.of(where)
        assert p.devices == (device,) and p.count == 1 and p.default == device
        assert p.mesh is None and p.children.device_set == {device}
        assert p.split(len) is len  # nothing to split over one device


def test_more_children_than_a_program_holds_run_in_chunks(synthetic, monkeypatch):
    """Past the largest batch size a group runs as several programs, each
    child's result in its place."""
    archs = [Architecture.parse(t) for t in FIXED]
    keys = _keys(3)
    whole = batched.BatchedTrainer(KMAX, CMAX).train(archs, synthetic, CONFIG, keys)
    monkeypatch.setattr(batched, "BATCH_SIZES", (1, 2))
    monkeypatch.setattr(child_batches, "BATCH_SIZES", (1, 2))
    bt = batched.BatchedTrainer(KMAX, CMAX)
    chunked = bt.train(archs, synthetic, CONFIG, keys)  # 2 + 1
    assert bt.trace_count == 4  # sizes 2 and 1, step and evaluation each
    for a, b in zip(chunked, whole, strict=True):
        _close(a, b, len(synthetic.val.labels))


def test_batched_mode_is_checked():
    assert batched.use_batched("on") and not batched.use_batched("off")
    assert batched.use_batched("auto", "gpu") and not batched.use_batched("auto", "cpu")
    with pytest.raises(ValueError, match="train.batched"):
        batched.use_batched("yes")
    with pytest.raises(ValueError, match="odd"):
        batched.BatchedTrainer(4, 8)


def _same_search(a_history, b_history, nval):
    assert len(a_history) == len(b_history)
    assert any(r["status"] == "trained" for r in b_history)
    for a, b in zip(a_history, b_history, strict=True):
        for k in ("architecture", "status", "design", "meets_specs"):
            assert a[k] == b[k]
        if a["accuracy"] is not None:
            assert abs(a["accuracy"] - b["accuracy"]) <= 1.0 / nval + 1e-9


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """The tiny search with train.batched off and on (this process's device)."""
    runs = {}
    for mode in ("off", "on"):
        workdir = str(tmp_path_factory.mktemp(f"batched_{mode}"))
        search.run(tiny(**{"train.batched": mode}), workdir, log=quiet)
        runs[mode] = history(keep_timing=True, workdir=workdir)
    return runs


def test_the_search_is_the_same_batched_or_not(searches, synthetic):
    """Same proposals, statuses, designs and (to one validation image)
    accuracies, episode by episode. A float difference could in principle
    flip a later sample; at this seed and size it does not."""
    _same_search(searches["off"], searches["on"], len(synthetic.val.labels))


_TWO_DEVICES = textwrap.dedent(
    """
    import sys
    import jax
    from cosearch.child import batches as child_batches
    from cosearch.search import loop as search
    from tests.tiny_search import tiny

    assert len(jax.local_devices()) == 2
    # Both ways of running a batch over two devices happen at this seed.
    dealt = []
    real_deal = child_batches.deal
    child_batches.deal = lambda *a: dealt.append(real_deal(*a)) or dealt[-1]
    search.run(tiny(**{"train.batched": "on"}), sys.argv[1], log=lambda _: None)
    assert any(d.split for d in dealt) and any(d.single for d in dealt), dealt
    """
)


def test_batched_search_over_two_devices(searches, synthetic, tmp_path):
    """An episode's children over two devices (a batch of two or three split
    over both, a lone child on one) give the search of one device, to float
    tolerance."""
    run_script(_TWO_DEVICES, str(tmp_path), devices=2)
    _same_search(
        searches["on"],
        history(keep_timing=True, workdir=tmp_path),
        len(synthetic.val.labels),
    )


def test_batched_search_over_two_processes_of_two_devices(
    searches, synthetic, tmp_path
):
    """Two processes of two devices each: batches dealt over the processes
    and split over each one's devices (or one per device) give the search of
    one device, to float tolerance."""
    port = free_port()
    on = {"train.batched": "on"}
    procs = [launch_search(tmp_path, port, pid, devices=2, **on) for pid in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:]
    _same_search(
        searches["on"],
        history(keep_timing=True, workdir=tmp_path),
        len(synthetic.val.labels),
    )


_SPLIT = textwrap.dedent(
    """
    import jax
    import numpy as np
    from cosearch import data
    from cosearch.child import batched
    from cosearch.hardware.architecture import Architecture
    from tests.child.test_batched import CMAX, CONFIG, FIXED, KMAX, _keys

    devices = jax.local_devices()
    assert len(devices) == 2
    archs = [Architecture.parse(t) for t in FIXED]
    dataset = data.load("synthetic", seed=0)
    bt = batched.BatchedTrainer(KMAX, CMAX)
    here = bt.train(archs, dataset, CONFIG, _keys(3))
    traced = bt.trace_count
    split = bt.train(archs, dataset, CONFIG, _keys(3), devices)
    assert bt.trace_count == traced + 2, bt.trace_count  # one step, one evaluation
    second = bt.train(archs, dataset, CONFIG, _keys(3), devices[1])
    for a, b, c in zip(here, split, second, strict=True):
        np.testing.assert_allclose(b.loss_curve, a.loss_curve, rtol=1e-5)
        np.testing.assert_allclose(c.loss_curve, a.loss_curve, rtol=1e-5)
        assert abs(b.val_accuracy - a.val_accuracy) <= 1 / len(dataset.val.labels)
    (programs,) = [p for (_, on), p in bt._cache.items() if len(on) == 2]
    for program in (programs.step, programs.evaluate):
        text = program.as_text()
        for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute"):
            assert op not in text, op
        assert "num_partitions=2" in text
    print("split ok")
    """
)


def test_a_batch_split_over_two_devices_trains_as_on_one():
    """The children axis split over two devices (jax.shard_map, one program):
    the same children as on one device, no collective in the program, one
    compile for both devices."""
    assert "split ok" in run_script(_SPLIT, devices=2)
