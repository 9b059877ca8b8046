"""The paper's CIFAR-10 setting, for a GPU.

32x32x3 CIFAR-10 from the standard python batches (cifar-10-batches-py) in
``--config.data.data_dir``; 10-layer children (the released designs have 6,
10 and 14), full child training, the ``zcu102x2`` platform.

Run (fixed stride):
  python -m experiments.search --config=experiments/configs/cifar10.py \
      --config.data.data_dir=/data/cifar-10-batches-py --workdir=/tmp/cifar_fixed
Predictable stride:
  python -m experiments.search --config=experiments/configs/cifar10.py:predictable \
      --config.data.data_dir=/data/cifar-10-batches-py --workdir=/tmp/cifar_pred
Deeper: ``--config.space.depth=14``.
"""

from __future__ import annotations

from experiments.configs import default


def get_config(arg: str | None = None):
    """``arg``: "fixed" (default) or "predictable" (strides {1, 2})."""
    c = default.get_config()
    c.space.depth = 10  # conv layers per child
    c.space.strides = (1,) if arg in (None, "", "fixed") else (1, 2)
    if arg not in (None, "", "fixed", "predictable"):
        raise ValueError(f"unknown config variant {arg!r}; known: fixed, predictable")
    c.platform.name = "zcu102x2"  # two XCZU9EG
    c.specs.min_fps = 1000.0  # images/s
    c.reward.eff_hi = 2000.0  # images/s mapped to reward +1 (twice the spec)
    c.reward.acc_lo = 0.60  # accuracy mapped to -1
    c.reward.acc_hi = 0.95  # accuracy mapped to +1
    c.search.max_children = 500  # trained children (the budget)
    c.search.candidates_per_episode = 256  # proposals scored by the fast level
    c.search.children_per_episode = 8  # most children trained per episode
    c.search.hw_aware_reference = (
        "5,24,1;1,64,1;5,48,1;7,24,1;5,36,1;1,24,1;5,48,1;3,24,1;7,24,1;3,36,1"
    )
    c.data.name = "cifar10"
    c.data.data_dir = ""  # required: the cifar-10-batches-py folder
    c.train.steps = 0  # train for `epochs` (the default config's proxy has steps)
    c.train.epochs = 25  # full child training
    c.train.batch_size = 128  # images per step
    c.train.learning_rate = 0.1  # peak SGD step size
    # The paper's child: Flatten -> Dense head, its learning rate scaled down.
    c.train.head = "flatten"
    c.train.head_lr_scale = 0.05
    c.data.val_fraction = 0.3  # held out of the 50,000 training images
    c.final.steps = 20000  # about 50 epochs of the 50,000 images
    c.final.batch_size = 128
    c.final.learning_rate = 0.1
    c.final.head_lr_scale = 0.05
    c.final.noise = 0.005  # not measured on CIFAR-10 here (no data set)
    return c
