"""Image data sets for child training (docs/design.md section 7).

``load(name, ...)`` returns a :class:`Dataset` with train / val / test
:class:`Split` s of numpy arrays:

- ``images``: float32 ``[N, H, W, C]``, normalised per data set (per-channel
  mean subtracted, divided by the standard deviation; raw values 0..255 are
  first scaled to [0, 1]), so roughly zero mean and unit variance;
- ``labels``: int32 ``[N]`` in ``0..num_classes-1``.

Data sets:

- ``embedded`` (default): a stratified subset of Fashion-MNIST shipped in the
  package (10,000 train + 2,000 test images, 28x28x1; made by
  ``scripts/make_embedded_data.py``; MIT licence of Zalando SE in
  ``cosearch/data/embedded/LICENSE``). Works offline.
- ``fashion_mnist``: the full set (60,000 + 10,000) from the IDX files in
  ``data_dir`` (default ``/usr/share/datasets/fashion-mnist``, where the
  Debian package ``dataset-fashion-mnist`` puts them).
- ``cifar10``: the python-format batches (``data_batch_1..5``,
  ``test_batch``) in ``data_dir`` or ``data_dir/cifar-10-batches-py``.
- ``synthetic``: small learnable class patterns, for unit tests.

The validation split is held out from the training files by a seeded,
stratified split (:func:`stratified_split`); the test split is for final
reports only.

A bottom room: imports ``errors`` only.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import NamedTuple

import jax
import numpy as np

from cosearch.data.formats import (
    DataError,
    check_pair,
    read_cifar_batch,
    read_embedded,
    read_idx_pair,
)

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "host_rng",
    "Split",
    "load",
    "normalise",
    "stratified_split",
    "synthetic",
]

DATASETS = ("embedded", "fashion_mnist", "cifar10", "synthetic")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
EMBEDDED_FILE = "fashion_mnist_subset.npz.xz"

# Per-channel mean and standard deviation of the raw [0, 1] training images.
_STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "synthetic": ((0.5,), (0.5,)),
}


class Split(NamedTuple):
    """One split of a data set.

    Attributes:
      images: float32 ``[N, H, W, C]``, normalised (see module doc).
      labels: int32 ``[N]`` class indices.
      index: int ``[N]`` position of each example in its source file (the
        training or the test file), or None where there is none.
    """

    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class Dataset(NamedTuple):
    """A data set with its three splits.

    Attributes:
      name: one of :data:`DATASETS`.
      train: training split (validation examples removed).
      val: validation split, held out from the training files.
      test: test split (final reports only).
      num_classes: number of classes.
      input_shape: (height, width, channels).
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]


def host_rng(key: jax.Array) -> np.random.Generator:
    """A numpy Generator seeded from a JAX key (key consumed).

    Host-side shuffles and synthetic data use it: ``jax.random`` samplers
    compile once per shape, a compilation for work the host does directly.
    """
    return np.random.Generator(np.random.Philox(np.asarray(jax.random.key_data(key))))


def normalise(images: np.ndarray, stats_name: str) -> np.ndarray:
    """``uint8 [N, H, W, C]`` (0..255) -> float32, per-channel standardised."""
    mean, std = (np.asarray(v, np.float32) for v in _STATS[stats_name])
    return (images.astype(np.float32) / 255.0 - mean) / std


def stratified_split(labels: np.ndarray, val_fraction: float, key: jax.Array):
    """Indices of a seeded, class-stratified train/validation split.

    Each class gives ``round(count * val_fraction)`` examples (at least one
    when the class has two or more and ``val_fraction > 0``) to validation.

    Args:
      labels: int ``[N]`` class of each example.
      val_fraction: share of each class held out, in [0, 1).
      key: consumed; orders the examples of each class.

    Returns:
      (train_idx, val_idx): sorted int64 index arrays.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction {val_fraction}: expected 0 <= value < 1")
    order = host_rng(key).permutation(labels.shape[0])
    val = []
    for c in np.unique(labels):
        members = order[labels[order] == c]
        n_val = int(round(len(members) * val_fraction))
        if val_fraction > 0 and len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.append(members[:n_val])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    mask = np.ones(labels.shape[0], bool)
    mask[val_idx] = False
    return np.nonzero(mask)[0], val_idx


def synthetic(
    key: jax.Array,
    num_train: int = 512,
    num_test: int = 128,
    input_shape: tuple[int, int, int] = (8, 8, 1),
    num_classes: int = 4,
    noise: float = 0.5,
):
    """Raw synthetic images: a fixed random pattern per class plus noise.

    Args:
      key: consumed.
      num_train, num_test: examples per split.
      input_shape: (height, width, channels).
      num_classes: number of classes.
      noise: standard deviation of the additive noise, in units of 255/4.

    Returns:
      (x_train, y_train, x_test, y_test): ``uint8 [N, H, W, C]`` (0..255) and
      int32 ``[N]``.
    """
    rng = host_rng(key)
    patterns = rng.uniform(size=(num_classes, *input_shape))

    def make(n):
        labels = rng.integers(0, num_classes, n).astype(np.int32)
        eps = rng.standard_normal((n, *input_shape))
        x = patterns[labels] + noise * 0.25 * eps
        return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8), labels

    return (*make(num_train), *make(num_test))


def _embedded_path() -> str:
    return str(resources.files("cosearch.data").joinpath("embedded", EMBEDDED_FILE))


def _cifar_dir(data_dir: str | None) -> str:
    if data_dir is None:
        raise DataError("cifar10: needs a data_dir holding cifar-10-batches-py")
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: no such directory")
    sub = os.path.join(data_dir, "cifar-10-batches-py")
    return sub if os.path.isdir(sub) else data_dir


def _read_raw(name: str, data_dir: str | None, key: jax.Array):
    """(x_train, y_train, x_test, y_test, num_classes, stats name)."""
    if name == "embedded":
        return (*read_embedded(_embedded_path()), 10, "fashion_mnist")
    if name == "fashion_mnist":
        d = data_dir or FASHION_MNIST_DIR
        train = read_idx_pair(d, "train", (28, 28, 1), 10)
        test = read_idx_pair(d, "t10k", (28, 28, 1), 10)
        return (*train, *test, 10, "fashion_mnist")
    if name == "cifar10":
        d = _cifar_dir(data_dir)
        parts = [
            read_cifar_batch(os.path.join(d, f"data_batch_{i}")) for i in range(1, 6)
        ]
        x_test, y_test = read_cifar_batch(os.path.join(d, "test_batch"))
        x_train = np.concatenate([p[0] for p in parts])
        y_train = np.concatenate([p[1] for p in parts])
        return x_train, y_train, x_test, y_test, 10, "cifar10"
    if name == "synthetic":
        x_tr, y_tr, x_te, y_te = synthetic(key)
        train = check_pair(x_tr, y_tr, 4, x_tr.shape[1:], "synthetic train")
        return (*train, x_te, y_te, 4, "synthetic")
    raise DataError(f"data set {name!r}: expected one of {DATASETS}")


def load(
    name: str = "embedded",
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """Loads, splits and normalises a data set.

    Args:
      name: one of :data:`DATASETS`.
      data_dir: where the files are (fashion_mnist, cifar10).
      val_fraction: share of the training files held out for validation,
        per class.
      seed: seeds the validation split (and the synthetic data).

    Returns:
      The :class:`Dataset`.

    Raises:
      DataError: a missing or malformed data set (names the file), an
        unknown name or a bad ``val_fraction``.
    """
    key = jax.random.key(seed)
    data_key, split_key = jax.random.split(key)
    x_train, y_train, x_test, y_test, num_classes, stats = _read_raw(
        name, data_dir, data_key
    )
    train_idx, val_idx = stratified_split(y_train, val_fraction, split_key)

    def split(x, y, index):
        return Split(normalise(x[index], stats), y[index].astype(np.int32), index)

    return Dataset(
        name=name,
        train=split(x_train, y_train, train_idx),
        val=split(x_train, y_train, val_idx),
        test=split(x_test, y_test, np.arange(y_test.shape[0])),
        num_classes=num_classes,
        input_shape=tuple(int(v) for v in x_train.shape[1:]),
    )
