"""What a final training is: its budget, its seeds and the data it sees.

A search ranks architectures by a short *proxy* training scored on the
validation split. The designs a user takes from it are then trained again
with a *final* budget, on the training and validation images together, over
several seeds, and scored on the test split, which nothing else reads
(docs/design.md section 8).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from cosearch.child.train import TrainConfig
from cosearch.data import Dataset, Split

# Fewest seeds of a final training: a spread needs two.
MIN_SEEDS = 2

# Folded into the root key of final trainings, apart from every search key.
FINAL_STREAM = 0x46494E41


def final_key(seed: int) -> jax.Array:
    """The key of final-training seed ``seed``: the same for every
    architecture and every search, so that two searches on one data set (of
    files; ``synthetic`` data is drawn from the seed) that find one
    architecture get one final accuracy, and architectures are compared on
    the same initial draws and data orders (:func:`final_task` orders the
    images by file position)."""
    return jax.random.fold_in(jax.random.key(FINAL_STREAM), int(seed))


def tie_margin(noise: float, seeds: int) -> float:
    """Smallest difference of two final accuracies that is not a tie.

    Each is a mean over ``seeds`` trainings with seed-to-seed standard
    deviation ``noise``; their difference has standard deviation ``noise *
    sqrt(2 / seeds)``, and differences within two of those are ties.
    """
    return 2.0 * noise * math.sqrt(2.0 / max(int(seeds), 1))


@dataclasses.dataclass(frozen=True)
class FinalSettings:
    """The final training of found designs (``config.final``), checked.

    Attributes:
      train: the final budget and optimizer (``config.train`` with the
        fields ``config.final`` sets).
      seeds: training seeds, ``0 .. seeds-1``; the mean and spread over
        them are reported.
      max_designs: how many designs of a search are finalized: OptSW, OptHW,
        then the Pareto front by accuracy; 0 turns final training off.
      noise: seed-to-seed standard deviation of a final test accuracy
        (measured, experiments.proxy_fidelity); differences of final
        accuracies within :attr:`margin` are reported as ties.
      parallel_runs: runs trained at once, each in a thread of its own
        (the results do not depend on it; on a 2-core CPU two at once
        take 1.71x less time than one after another with jax 0.10, where
        one program's convolutions keep a core half idle, and 1.04x with
        jax 0.12, where one program spreads over both cores).
    """

    train: TrainConfig
    seeds: int
    max_designs: int
    noise: float
    parallel_runs: int = 1

    def __post_init__(self):
        if self.seeds < MIN_SEEDS:
            raise ValueError(f"seeds must be >= {MIN_SEEDS}, got {self.seeds}")
        if self.max_designs < 0:
            raise ValueError(f"max_designs must be >= 0, got {self.max_designs}")
        if not 0 <= self.noise < 1:
            raise ValueError(f"noise must be in [0, 1), got {self.noise}")
        if self.parallel_runs < 1:
            raise ValueError(f"parallel_runs must be >= 1, got {self.parallel_runs}")

    @property
    def enabled(self) -> bool:
        return self.max_designs > 0

    @property
    def margin(self) -> float:
        """The tie margin of two final accuracies (:func:`tie_margin`)."""
        return tie_margin(self.noise, self.seeds)


def final_task(dataset: Dataset) -> Dataset:
    """The data a final training sees: ``train`` is the training and
    validation images together, in the order of the training file (so that
    it does not depend on how a search's seed and ``val_fraction`` split
    them), and ``val``, the split a trainer scores, is the test split."""
    tr, va = dataset.train, dataset.val
    images = np.concatenate([tr.images, va.images])
    labels = np.concatenate([tr.labels, va.labels])
    index = None
    if tr.index is not None and va.index is not None:
        index = np.concatenate([tr.index, va.index])
        order = np.argsort(index, kind="stable")
        images, labels, index = images[order], labels[order], index[order]
    return dataset._replace(train=Split(images, labels, index), val=dataset.test)
