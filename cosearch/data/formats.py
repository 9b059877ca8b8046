"""Readers of on-disk image data set formats, with one clear error per problem.

Every reader returns raw numpy arrays: images ``uint8 [N, H, W, C]`` (values
0..255) and labels ``int32 [N]``. Anything missing or malformed raises
:class:`DataError` naming the file and what was expected.

Formats:
  - IDX (Fashion-MNIST, MNIST): ``*-images-idx3-ubyte[.gz]`` and
    ``*-labels-idx1-ubyte[.gz]``.
  - CIFAR-10 python batches: ``cifar-10-batches-py/data_batch_1..5`` and
    ``test_batch``, each a pickled dict with ``b"data"`` (``uint8 [10000,
    3072]``, channel-major rows of 32x32 images) and ``b"labels"``.
  - The embedded subset: an xz-compressed ``.npz`` with ``x_train``,
    ``y_train``, ``x_test``, ``y_test`` (``uint8``).
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import pickle
import zipfile

import numpy as np

from cosearch.errors import UserError


class DataError(UserError, ValueError):
    """A data set is missing or malformed."""


def _read_bytes(path: str) -> bytes:
    """The bytes of ``path``, gunzipped when it ends in ``.gz``."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


# What a CIFAR-10 python batch may contain: builtins and numpy arrays. Any
# other global (a function, a class of another module) is refused, so a
# crafted batch file cannot run code when it is read.
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers, strings, numbers and numpy arrays only."""

    def find_class(self, module: str, name: str):
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a data file may hold only "
            "containers, numbers, strings and numpy arrays"
        )


def find_file(data_dir: str, stem: str) -> str:
    """``data_dir/stem`` or ``data_dir/stem.gz``, whichever exists."""
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: no such directory")
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise DataError(f"{os.path.join(data_dir, stem)}[.gz]: no such file")


def read_idx(path: str, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes (magic ``0x0000 08 ndim``).

    Args:
      path: the file (``.gz`` read through gzip).
      ndim: expected number of dimensions (3 for images, 1 for labels).

    Returns:
      ``uint8`` array of the shape in the header.
    """
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + ndim:
        raise DataError(
            f"{path}: IDX magic {magic:#06x}, expected {0x0800 + ndim:#06x} "
            f"(unsigned bytes, {ndim} dimensions)"
        )
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DataError(
            f"{path}: {len(raw) - header} data bytes, expected {size} for shape "
            f"{shape} (truncated or corrupt file)"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def check_pair(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    hwc: tuple[int, int, int],
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Checks shapes and label range; returns ``(uint8 [N,H,W,C], int32 [N])``."""
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != hwc:
        raise DataError(f"{where}: images of shape {images.shape[1:]}, expected {hwc}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{where}: {labels.shape} labels for {images.shape[0]} images, "
            "expected one label per image"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{where}: labels in [{labels.min()}, {labels.max()}], expected "
            f"0..{num_classes - 1}"
        )
    return np.ascontiguousarray(images, np.uint8), labels.astype(np.int32)


def read_idx_pair(data_dir: str, prefix: str, hwc, num_classes: int):
    """Images and labels of one IDX split, e.g. ``prefix="train"``."""
    img_path = find_file(data_dir, f"{prefix}-images-idx3-ubyte")
    lab_path = find_file(data_dir, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(img_path, 3)
    labels = read_idx(lab_path, 1)
    return check_pair(images, labels, num_classes, hwc, f"{img_path} + {lab_path}")


def read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> ``(uint8 [N, 32, 32, 3], int32 [N])``."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
    ) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{path}: expected keys b'data' and b'labels'")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise DataError(
            f"{path}: data of shape {data.shape} and dtype {data.dtype}, expected "
            "uint8 [N, 3072]"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return check_pair(images, np.asarray(labels), 10, (32, 32, 3), path)


def read_embedded(path: str):
    """The embedded subset -> ``(x_train, y_train, x_test, y_test)``."""
    raw = _read_bytes(path)
    try:
        with np.load(io.BytesIO(lzma.decompress(raw))) as z:
            arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (lzma.LZMAError, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise DataError(f"{path}: not a valid embedded data file ({e})") from None
    train = check_pair(arrays[0], arrays[1], 10, (28, 28, 1), f"{path} train")
    test = check_pair(arrays[2], arrays[3], 10, (28, 28, 1), f"{path} test")
    return (*train, *test)
