"""Builds the embedded Fashion-MNIST subset shipped in cosearch/data/embedded.

Reproducible: the same IDX files and flags give the same bytes.

    cd /tmp && apt-get download dataset-fashion-mnist
    dpkg -x dataset-fashion-mnist_*.deb /tmp/fmnist
    python scripts/make_embedded_data.py \
        --src=/tmp/fmnist/usr/share/datasets/fashion-mnist \
        --doc=/tmp/fmnist/usr/share/doc/dataset-fashion-mnist

Writes ``fashion_mnist_subset.npz.xz`` (an xz-compressed ``.npz`` of uint8
``x_train [N, 28, 28]``, ``y_train [N]``, ``x_test``, ``y_test``, class
balanced, drawn with a seeded ``jax.random`` permutation) and ``LICENSE``
(Fashion-MNIST's MIT/Expat licence and Zalando SE's copyright notice, from the
Debian package's copyright file).
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
import sys

import jax
import numpy as np

from cosearch.data import EMBEDDED_FILE
from cosearch.data.formats import read_idx_pair

OUT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "cosearch",
    "data",
    "embedded",
)
MAX_BYTES = 12_000_000

LICENSE_HEADER = """\
Fashion-MNIST subset shipped with cosearch
==========================================

The file {file} holds {n_train} training and {n_test} test images (a
class-balanced subset drawn with seed {seed}) of Fashion-MNIST,
https://github.com/zalandoresearch/fashion-mnist, taken from the Debian
package dataset-fashion-mnist and rebuilt by scripts/make_embedded_data.py.

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

"""

MIT_TEXT = """\
The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def balanced_subset(labels: np.ndarray, per_class: int, key: jax.Array) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of each class (key consumed)."""
    order = np.asarray(jax.random.permutation(key, labels.shape[0]))
    picks = []
    for c in range(int(labels.max()) + 1):
        members = order[labels[order] == c]
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} < {per_class} examples")
        picks.append(members[:per_class])
    return np.sort(np.concatenate(picks))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--doc", default="/usr/share/doc/dataset-fashion-mnist")
    p.add_argument("--out_dir", default=OUT_DIR)
    p.add_argument("--train_per_class", type=int, default=2000)
    p.add_argument("--test_per_class", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x_train, y_train = read_idx_pair(args.src, "train", (28, 28, 1), 10)
    x_test, y_test = read_idx_pair(args.src, "t10k", (28, 28, 1), 10)
    train_key, test_key = jax.random.split(jax.random.key(args.seed))
    tr = balanced_subset(y_train, args.train_per_class, train_key)
    te = balanced_subset(y_test, args.test_per_class, test_key)

    buf = io.BytesIO()
    np.savez(
        buf,
        x_train=x_train[tr, :, :, 0],
        y_train=y_train[tr].astype(np.uint8),
        x_test=x_test[te, :, :, 0],
        y_test=y_test[te].astype(np.uint8),
    )
    blob = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)

    copyright_path = os.path.join(args.doc, "copyright")
    upstream = ""
    if os.path.isfile(copyright_path):
        with open(copyright_path, encoding="utf-8") as f:
            upstream = (
                "\nDebian package copyright file ("
                + copyright_path
                + "):\n\n"
                + f.read()
            )
    license_text = (
        LICENSE_HEADER.format(
            file=EMBEDDED_FILE, n_train=len(tr), n_test=len(te), seed=args.seed
        )
        + MIT_TEXT
        + upstream
    )
    total = len(blob) + len(license_text.encode())
    if total > MAX_BYTES:
        print(f"error: {total} bytes > {MAX_BYTES}; use fewer images", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, EMBEDDED_FILE), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out_dir, "LICENSE"), "w", encoding="utf-8") as f:
        f.write(license_text)
    print(f"wrote {len(tr)} train + {len(te)} test images, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
