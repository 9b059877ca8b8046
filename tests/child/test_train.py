"""Tests of child training: learns, never recompiles a repeat, survives NaN."""

import dataclasses

import jax
import numpy as np
import pytest

from cosearch import data
from cosearch.child import train
from cosearch.hardware.architecture import Architecture

TINY = [(3, 8, 1), (1, 8, 2)]


@pytest.fixture(scope="module")
def synthetic():
    return data.load("synthetic", seed=0)


@pytest.fixture(scope="module")
def embedded():
    return data.load("embedded")


def test_embedded_training_beats_chance(embedded):
    config = train.TrainConfig(
        steps=60, batch_size=32, learning_rate=0.05, train_examples=3000
    )
    result = train.train_child(
        [(3, 16, 2), (3, 16, 2)], embedded, config, jax.random.key(0)
    )
    assert not result.failed and result.steps == 60
    # Chance is 10%; a tiny CNN gets far above it in 60 steps.
    assert result.val_accuracy > 0.6, result
    assert len(result.loss_curve) == 60
    assert result.loss_curve[-1] < result.loss_curve[0]


def test_repeated_architecture_does_not_recompile(synthetic):
    trainer = train.Trainer()
    config = train.TrainConfig(epochs=2, steps=None, batch_size=32, eval_batch_size=64)
    r1 = trainer.train(TINY, synthetic, config, jax.random.key(0))
    # One train step and one eval program, traced once for two epochs.
    assert trainer.trace_count == 2
    assert r1.compile_s > 0 and r1.steps == 2 * (len(synthetic.train) // 32)
    r2 = trainer.train(TINY, synthetic, config, jax.random.key(1))
    assert trainer.trace_count == 2 and r2.compile_s == 0.0
    assert r1.loss_curve != r2.loss_curve  # different key, different run
    r3 = trainer.train(TINY, synthetic, config, jax.random.key(0))
    # Seeded: the same program on the same data gives the same bits.
    assert r3.loss_curve == r1.loss_curve and r3.val_accuracy == r1.val_accuracy
    assert not r1.failed and r1.val_accuracy > 0.5  # 4 classes: chance 0.25


def test_nan_loss_is_reported_not_raised(synthetic):
    config = train.TrainConfig(
        steps=30, batch_size=32, learning_rate=0.1, check_every=5, schedule="constant"
    )
    # Images holding NaN: the loss is NaN from the first step on.
    images = synthetic.train.images.copy()
    images[:, 0, 0, 0] = np.nan
    poisoned = synthetic._replace(train=data.Split(images, synthetic.train.labels))
    result = train.train_child(TINY, poisoned, config, jax.random.key(0))
    assert result.failed and result.val_accuracy == 0.0
    assert "loss became" in result.reason
    assert result.steps < 30  # stopped early


def test_adam_and_config_checks(synthetic):
    config = train.TrainConfig(steps=3, batch_size=32, optimizer="adam")
    assert not train.train_child(TINY, synthetic, config, jax.random.key(0)).failed
    assert config.total_steps(1000) == 3
    assert dataclasses.replace(config, steps=None, epochs=2).total_steps(100) == 6
    for bad in [
        dict(optimizer="rmsprop"),
        dict(schedule="step"),
        dict(batch_size=0),
        dict(learning_rate=-1.0),
        dict(learning_rate=0.0),
        dict(learning_rate=float("nan")),
        dict(learning_rate=100.0),
        dict(momentum=5.0),
        dict(momentum=-0.1),
        dict(weight_decay=-1.0),
        dict(head_lr_scale=0.0),
        dict(head_lr_scale=1e30),
        dict(head="pool"),
        dict(train_examples=0),
    ]:
        with pytest.raises(ValueError):
            train.TrainConfig(**bad)


def test_part_way_scores_leave_the_training_unchanged():
    """eval_steps scores the validation split after those steps (what a
    successive-halving rung sees); the run itself is the same."""
    dataset = data.load("synthetic", seed=0)
    arch = Architecture.parse("3,8,1;1,8,1")
    config = train.TrainConfig(steps=6, batch_size=32, eval_batch_size=128)
    trainer = train.Trainer()
    plain = trainer.train(arch, dataset, config, jax.random.key(0))
    early = trainer.train(
        arch, dataset, config, jax.random.key(0), eval_steps=(2, 4, 6, 9)
    )
    assert early.loss_curve == plain.loss_curve
    assert early.val_accuracy == plain.val_accuracy
    assert [s for s, _ in early.early] == [2, 4]  # 6 is the final score
    assert all(0.0 <= a <= 1.0 for _, a in early.early)
    assert plain.early == ()
