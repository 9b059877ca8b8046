"""Tests of the data loaders on their real formats, and of every bad-data error."""

import gzip
import os
import pickle

import jax
import numpy as np
import pytest

from cosearch import data
from cosearch.data import formats


def _write_idx(path, array, magic=None, truncate=0):
    array = np.asarray(array, np.uint8)
    header = (magic if magic is not None else 0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes()
    raw = raw[: len(raw) - truncate]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)


def _fashion_dir(tmp_path, gz=True, n_train=40, n_test=10, **bad):
    suffix = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        img = tmp_path / f"{prefix}-images-idx3-ubyte{suffix}"
        lab = tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}"
        _write_idx(str(img), images)
        _write_idx(str(lab), labels)
        files[prefix] = (images, labels, str(img), str(lab))
    return files


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_loader(tmp_path, gz):
    files = _fashion_dir(tmp_path, gz=gz)
    ds = data.load("fashion_mnist", data_dir=str(tmp_path), val_fraction=0.25)
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert len(ds.train) == 30 and len(ds.val) == 10 and len(ds.test) == 10
    # Stratified: 4 examples per class, 1 of each held out.
    assert sorted(ds.val.labels.tolist()) == list(range(10))
    assert ds.train.images.dtype == np.float32 and ds.train.labels.dtype == np.int32
    assert ds.train.images.shape == (30, 28, 28, 1)
    # Test split unchanged, normalised as (x / 255 - 0.2860) / 0.3530.
    raw = files["t10k"][0]
    np.testing.assert_allclose(
        ds.test.images[..., 0], (raw / 255.0 - 0.2860) / 0.3530, rtol=1e-5
    )
    np.testing.assert_array_equal(ds.test.labels, files["t10k"][1])


def _cifar_dir(tmp_path, n=20, sub=True):
    d = tmp_path / "cifar-10-batches-py" if sub else tmp_path
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in np.arange(n) % 10],
        }
        with open(d / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = batch
    return d, batches


@pytest.mark.parametrize("sub", [True, False])
def test_cifar10_loader(tmp_path, sub):
    d, batches = _cifar_dir(tmp_path, sub=sub)
    ds = data.load("cifar10", data_dir=str(tmp_path), val_fraction=0.1)
    assert ds.input_shape == (32, 32, 3) and ds.num_classes == 10
    assert len(ds.train) + len(ds.val) == 100 and len(ds.val) == 10
    assert len(ds.test) == 20
    # Rows are channel-major: pixel (r, c) of channel ch is data[ch*1024 + r*32 + c].
    row = batches["test_batch"][b"data"][3]
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2470, 0.2435, 0.2616])
    for r, c, ch in [(0, 0, 0), (5, 7, 1), (31, 30, 2)]:
        expect = (row[ch * 1024 + r * 32 + c] / 255.0 - mean[ch]) / std[ch]
        assert ds.test.images[3, r, c, ch] == pytest.approx(expect, rel=1e-5)


def test_embedded_default_offline():
    ds = data.load()
    assert ds.name == "embedded" and ds.input_shape == (28, 28, 1)
    # 20,000 training images (2,000 per class; 10% held out by default) and
    # Fashion-MNIST's whole test set.
    assert (len(ds.train), len(ds.val), len(ds.test)) == (18000, 2000, 10000)
    np.testing.assert_array_equal(np.bincount(ds.val.labels), [200] * 10)
    np.testing.assert_array_equal(np.bincount(ds.test.labels), [1000] * 10)
    # Roughly standardised.
    assert abs(float(ds.train.images.mean())) < 0.05
    assert abs(float(ds.train.images.std()) - 1.0) < 0.05
    emb = os.path.dirname(data._embedded_path())
    total = sum(os.path.getsize(os.path.join(emb, f)) for f in os.listdir(emb))
    assert total <= 12_000_000
    with open(os.path.join(emb, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert "Zalando SE" in text and "MIT" in text


def test_synthetic_and_split_are_seeded():
    a, b, c = (data.load("synthetic", seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.train.images, b.train.images)
    assert not np.array_equal(a.train.images, c.train.images)
    assert a.input_shape == (8, 8, 1) and a.num_classes == 4
    labels = np.repeat(np.arange(3), 10)
    tr1, va1 = data.stratified_split(labels, 0.2, jax.random.key(0))
    tr2, va2 = data.stratified_split(labels, 0.2, jax.random.key(0))
    np.testing.assert_array_equal(va1, va2)
    assert np.bincount(labels[va1]).tolist() == [2, 2, 2]
    assert len(np.intersect1d(tr1, va1)) == 0 and len(tr1) + len(va1) == 30
    with pytest.raises(ValueError, match="val_fraction"):
        data.stratified_split(labels, 1.0, jax.random.key(0))
    with pytest.raises(ValueError, match="expected one of"):
        data.load("imagenet")


def _bad_fashion(tmp_path, case):
    files = _fashion_dir(tmp_path, gz=False)
    img, lab = files["train"][2], files["train"][3]
    if case == "missing_dir":
        return str(tmp_path / "nope"), "no such directory"
    if case == "missing_file":
        os.remove(lab)
        return str(tmp_path), "train-labels-idx1-ubyte"
    if case == "wrong_shape":
        _write_idx(img, np.zeros((40, 27, 27), np.uint8))
        return str(tmp_path), r"expected \(28, 28, 1\)"
    if case == "label_range":
        _write_idx(lab, np.full(40, 10))
        return str(tmp_path), r"expected 0\.\.9"
    if case == "truncated":
        _write_idx(img, np.zeros((40, 28, 28), np.uint8), truncate=100)
        return str(tmp_path), "truncated"
    if case == "bad_magic":
        _write_idx(img, np.zeros((40, 28, 28), np.uint8), magic=0x0D03)
        return str(tmp_path), "magic"
    if case == "count_mismatch":
        _write_idx(lab, np.zeros(39))
        return str(tmp_path), "one label per image"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing_dir",
        "missing_file",
        "wrong_shape",
        "label_range",
        "truncated",
        "bad_magic",
        "count_mismatch",
    ],
)
def test_fashion_mnist_bad_data(tmp_path, case):
    d, expect = _bad_fashion(tmp_path, case)
    with pytest.raises(data.DataError, match=expect) as err:
        data.load("fashion_mnist", data_dir=d)
    # The message names the file (or directory) at fault.
    assert str(tmp_path) in str(err.value)


def test_truncated_gzip_names_file(tmp_path):
    _fashion_dir(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.DataError, match=str(path)):
        data.load("fashion_mnist", data_dir=str(tmp_path))


@pytest.mark.parametrize("case", ["shape", "labels", "truncated", "missing", "nodir"])
def test_cifar10_bad_data(tmp_path, case):
    d, _ = _cifar_dir(tmp_path)
    path = d / "data_batch_3"
    if case == "shape":
        with open(path, "wb") as f:
            pickle.dump({b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5}, f)
        expect = r"expected uint8 \[N, 3072\]"
    elif case == "labels":
        with open(path, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 12]}, f)
        expect = r"expected 0\.\.9"
    elif case == "truncated":
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        expect = "not a CIFAR-10 python batch"
    elif case == "missing":
        os.remove(path)
        expect = "no such file"
    else:
        with pytest.raises(data.DataError, match="no such directory"):
            data.load("cifar10", data_dir=str(tmp_path / "nope"))
        return
    with pytest.raises(data.DataError, match=expect) as err:
        data.load("cifar10", data_dir=str(tmp_path))
    assert str(path) in str(err.value)


def test_corrupt_embedded_file(tmp_path):
    path = tmp_path / "x.npz.xz"
    path.write_bytes(b"not xz")
    with pytest.raises(data.DataError, match="not a valid embedded data file"):
        formats.read_embedded(str(path))


class _RunsCode:
    """A pickled object whose loading would call os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_batch_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": _RunsCode(marker), b"labels": [0]}, f)
    with pytest.raises(formats.DataError, match="refusing to load .*system"):
        formats.read_cifar_batch(str(path))
    assert not marker.exists()
    # A module that does not exist is refused the same way, in one line.
    with open(path, "wb") as f:
        f.write(b"\x80\x04cno_such_module\nthing\n.")
    with pytest.raises(
        formats.DataError, match="refusing to load no_such_module.thing"
    ):
        formats.read_cifar_batch(str(path))
