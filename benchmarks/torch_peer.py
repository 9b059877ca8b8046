"""The PyTorch peer of child training, for the benchmarks in bench_child.

The network is the child of :mod:`cosearch.child.network` (per layer Conv(k x k,
padding (k - 1) // 2, bias) -> ReLU -> BatchNorm, then the ``flatten`` or
``gap`` head -> Dense), NCHW. :func:`train` trains it the way
:meth:`cosearch.child.train.Trainer.train` trains the JAX child: the same initial
weights (JAX's, copied), the same batches in the same order
(:func:`batch_indices`, built on :func:`cosearch.child.train_steps.epoch_order`),
the same optimizer (SGD with momentum, coupled weight decay on the kernels,
the config's learning-rate schedule, the head's factor, optional global-norm
clipping), the same loss checks and the same evaluation batches.

Importing this module does not import torch: :func:`torch_version` says
whether it is installed, and only the training functions need it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from cosearch.child.network import BN_EPSILON, BN_MOMENTUM, init_variables, make_model
from cosearch.child.network import output_hw as child_output_hw
from cosearch.child.train_steps import (
    TrainConfig,
    epoch_order,
    eval_batches,
    extend_checked,
    learning_rate_schedule,
    training_split,
)
from cosearch.data import Dataset


def torch_version() -> str | None:
    """The installed torch version, or None."""
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def setup_torch() -> int:
    """One intra-op thread per core (``os.cpu_count()``); returns the count."""
    import torch

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def child_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(initialisation key, shuffling key) of a child, split from its
    training ``key`` as :meth:`cosearch.child.train.Trainer.train` splits it."""
    init_key, shuffle_key = jax.random.split(key)
    return init_key, shuffle_key


def batch_indices(shuffle_key: jax.Array, n: int, batch: int, steps: int) -> np.ndarray:
    """``[steps, batch]`` training-example indices of each step, in the order
    the JAX trainer feeds them: epoch ``e``'s order is ``epoch_order(
    shuffle_key, e, n)``, cut into ``n // batch`` batches (the rest dropped)."""
    per_epoch = n // batch
    out = np.empty((steps, batch), np.int64)
    order = None
    for i in range(steps):
        epoch, j = divmod(i, per_epoch)
        if j == 0:
            order = epoch_order(shuffle_key, epoch, n)
        out[i] = order[j * batch : (j + 1) * batch]
    return out


def build_net(layers, input_shape: Sequence[int], num_classes: int, head: str):
    """The child as a ``torch.nn.Sequential`` on NCHW inputs, torch's default
    initialisation (see :func:`load_variables`)."""
    import torch

    mods, ci = [], int(input_shape[2])
    for k, f, s in layers:
        mods += [
            torch.nn.Conv2d(ci, f, k, s, (k - 1) // 2),
            torch.nn.ReLU(),
            # torch's momentum weighs the new batch: 1 - flax's.
            torch.nn.BatchNorm2d(f, eps=BN_EPSILON, momentum=1.0 - BN_MOMENTUM),
        ]
        ci = f
    if head == "gap":
        inputs = ci
        mods += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
    else:
        oh, ow = child_output_hw(layers, input_shape)
        inputs = oh * ow * ci
        mods.append(torch.nn.Flatten())
    return torch.nn.Sequential(*mods, torch.nn.Linear(inputs, num_classes))


def load_variables(net, variables: dict, head: str) -> None:
    """Copies the JAX child's ``{"params", "batch_stats"}`` into ``net``
    (HWIO kernels -> OIHW; a flatten head's rows from (h, w, c) to (c, h, w)
    order)."""
    import torch

    params, stats = variables["params"], variables["batch_stats"]
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net if isinstance(m, torch.nn.BatchNorm2d)]

    def copy(dst, src):
        dst.data.copy_(torch.from_numpy(np.array(src, np.float32)))

    with torch.no_grad():
        for i, (conv, bn) in enumerate(zip(convs, bns, strict=True)):
            copy(conv.weight, np.transpose(params[f"Conv_{i}"]["kernel"], (3, 2, 0, 1)))
            copy(conv.bias, params[f"Conv_{i}"]["bias"])
            copy(bn.weight, params[f"BatchNorm_{i}"]["scale"])
            copy(bn.bias, params[f"BatchNorm_{i}"]["bias"])
            copy(bn.running_mean, stats[f"BatchNorm_{i}"]["mean"])
            copy(bn.running_var, stats[f"BatchNorm_{i}"]["var"])
        kernel = np.asarray(params["head"]["kernel"])  # [D, classes]
        if head != "gap":
            c = convs[-1].out_channels
            h_w = kernel.shape[0] // c
            kernel = (
                kernel.reshape(h_w, c, -1)
                .transpose(1, 0, 2)
                .reshape(-1, kernel.shape[1])
            )
        copy(net[-1].weight, kernel.T)
        copy(net[-1].bias, params["head"]["bias"])


class TorchData(NamedTuple):
    """A data set laid out for the peer (transposed once, outside timing).

    Attributes:
      train_images: float32 ``[N, C, H, W]``, the split the child trains on.
      train_labels: int64 ``[N]``.
      val_images: float32 ``[V, C, H, W]``.
      val_labels: int32 ``[V]``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


def torch_data(dataset: Dataset, config: TrainConfig) -> TorchData:
    """The training split of ``config`` and the validation split, NCHW."""
    images, labels, _ = training_split(dataset, config)

    def nchw(x):
        return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)), np.float32)

    return TorchData(
        nchw(images),
        labels.astype(np.int64),
        nchw(dataset.val.images),
        dataset.val.labels,
    )


def initial_variables(layers, dataset: Dataset, config: TrainConfig, init_key):
    """The JAX child's initial ``{"params", "batch_stats"}`` (eager)."""
    model = make_model(layers, dataset.num_classes, config.grad_impl, config.head)
    return jax.device_get(init_variables(model, dataset.input_shape, init_key))


class TorchResult(NamedTuple):
    """Outcome and seconds of one peer child.

    Attributes:
      val_accuracy: fraction of the validation split right (0 if failed).
      loss_curve: training loss of every step run.
      wall_s: init + training steps + evaluation.
      init_s: building the network and optimizer, loading the weights.
      train_s: the training steps (host batching included).
      eval_s: the evaluation.
      failed: True when the loss became NaN/inf.
      reason: why it failed ("" otherwise).
    """

    val_accuracy: float
    loss_curve: list[float]
    wall_s: float
    init_s: float
    train_s: float
    eval_s: float
    failed: bool
    reason: str


def _param_groups(net, config: TrainConfig) -> list[dict[str, Any]]:
    """Kernels (ndim > 1) decay, the rest not; the head's learning rate
    scaled (``lr_scale``, applied each step)."""
    head = f"{len(net) - 1}."
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in net.named_parameters():
        groups.setdefault((p.ndim > 1, name.startswith(head)), []).append(p)
    return [
        {
            "params": ps,
            "weight_decay": config.weight_decay if decay else 0.0,
            "lr_scale": config.head_lr_scale if is_head else 1.0,
        }
        for (decay, is_head), ps in groups.items()
    ]


def train(
    layers, dataset: Dataset, data: TorchData, config: TrainConfig, key: jax.Array
) -> TorchResult:
    """Trains the peer of ``layers`` as the JAX trainer would with ``key``.

    The JAX-side preparation (initial weights, learning rates, batch order)
    is done before the clock starts; the seconds count the peer only.

    Raises:
      ValueError: an optimizer other than SGD.
    """
    import torch

    if config.optimizer != "sgd":
        raise ValueError(f"the torch peer trains with sgd, not {config.optimizer}")
    n = data.train_labels.shape[0]
    total = config.total_steps(n)
    init_key, shuffle_key = child_keys(key)
    variables = initial_variables(layers, dataset, config, init_key)
    lr = learning_rate_schedule(config, total)
    lrs = np.broadcast_to(
        np.asarray(lr if isinstance(lr, float) else lr(np.arange(total)), np.float64),
        (total,),
    )
    order = batch_indices(shuffle_key, n, config.batch_size, total)

    t0 = time.perf_counter()
    net = build_net(layers, dataset.input_shape, dataset.num_classes, config.head)
    load_variables(net, variables, config.head)
    opt = torch.optim.SGD(_param_groups(net, config), lr=0.0, momentum=config.momentum)
    net.train()
    t1 = time.perf_counter()
    losses, pending = [], []
    failed, reason = False, ""
    for i in range(total):
        x = torch.from_numpy(data.train_images[order[i]])
        y = torch.from_numpy(data.train_labels[order[i]])
        for group in opt.param_groups:
            group["lr"] = float(lrs[i]) * group["lr_scale"]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        opt.step()
        pending.append(loss.detach())
        if len(pending) == config.check_every or i == total - 1:
            reason = extend_checked(losses, [float(v) for v in pending])
            pending = []
            if reason:
                failed = True
                break
    t2 = time.perf_counter()
    acc = 0.0
    if not failed:
        acc = accuracy(net, data.val_images, data.val_labels, config.eval_batch_size)
    t3 = time.perf_counter()
    return TorchResult(acc, losses, t3 - t0, t1 - t0, t2 - t1, t3 - t2, failed, reason)


def accuracy(net, images: np.ndarray, labels: np.ndarray, eval_batch: int) -> float:
    """Fraction of NCHW ``images`` classified right, in the JAX trainer's
    evaluation batches (the last one padded and masked)."""
    import torch

    net.eval()
    correct = 0
    with torch.inference_mode():
        for x, y, m in eval_batches(images, labels, eval_batch):
            pred = net(torch.from_numpy(x)).argmax(-1).numpy()
            correct += int(np.sum((pred == y) & m))
    return correct / max(labels.shape[0], 1)


def torch_stepper(layers, shape, batch: int, lr: float, momentum: float, classes: int):
    """step(): one PyTorch training step (flatten head, SGD with momentum) on
    fixed random data, or None when torch is not installed."""
    if torch_version() is None:
        return None
    import torch

    setup_torch()
    torch.manual_seed(0)
    h, w, c = shape
    net = build_net(layers, shape, classes, "flatten")
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    x = torch.randn(batch, c, h, w)
    y = torch.arange(batch) % classes

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    return step
