r"""Benchmark: each way of computing a child conv's value and gradients, per
layer shape, on this machine; the measurements behind :mod:`cosearch.child.conv`'s
CPU rules.

    python -m benchmarks.bench_conv --out=/tmp/bench_conv.json
    python -m benchmarks.bench_conv --smoke --out=/tmp/smoke.json

For every layer shape of the default space at 28x28 (kernels 1, 3, 5, 7;
input channels 1, 3, 24, 36, 48, 64; 48 output channels; stride 1; batch
64) it times, warm, median of ``--repeats``:

* the value: XLA's convolution, one matrix product (1x1), XLA's convolution
  over chunks of ``FWD_BATCH_CHUNK`` images;
* the input gradient: the flipped-kernel convolution, the same in chunks,
  ``g @ w^T`` (1x1), and XLA's autodiff;
* the weight gradient: im2col + matmul, XLA's over chunks of 2, 4 and 8
  images (unrolled), the chunks of 4 as a ``lax.map`` loop, and XLA's
  autodiff over the whole batch (the peer: what plain ``jax.grad`` of
  ``lax.conv`` does).

Per shape it reports the fastest of each, what :mod:`cosearch.child.conv`'s rules
pick and how far that is from the fastest, and the whole layer (value +
both gradients) on the CPU path against XLA's own convolution and autodiff.

With ``--peer`` it instead sets each conv layer of one design (``--layers``,
default the released 6-layer design; ``--input`` 28x28x1) against the
PyTorch peer's (:mod:`benchmarks.conv_peer`).

    python -m benchmarks.bench_conv --peer --out=/tmp/bench_conv_peer.json
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from jax import lax

from benchmarks import RELEASED_6, conv_peer
from cosearch.child import conv
from experiments.common import UsageError, environment, run, time_runs, write_benchmark

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 64, "Images per batch.")
flags.DEFINE_integer("size", 28, "Rows and columns of the feature maps.")
flags.DEFINE_integer("out_channels", 48, "Output channels of every layer.")
flags.DEFINE_integer("repeats", 7, "Warm runs timed (median reported).")
flags.DEFINE_bool("smoke", False, "Two small shapes, few repeats (for tests).")
flags.DEFINE_string("out", None, "Write the JSON result here.")
flags.DEFINE_bool("peer", False, "Each layer of --layers against PyTorch's conv.")
flags.DEFINE_string("layers", RELEASED_6, "With --peer: layers 'k,f,s;k,f,s;...'.")
flags.DEFINE_string("input", "28x28x1", "With --peer: input HxWxC.")

KERNELS = (1, 3, 5, 7)
IN_CHANNELS = (1, 3, 24, 36, 48, 64)


def _weight_grad_loop(x, w, g, chunk: int):
    """:func:`cosearch.child.conv.weight_grad_blocked` with its chunks in a
    ``lax.map`` loop (``n`` a multiple of ``chunk``) instead of unrolled."""
    n = x.shape[0]
    xs = x.reshape(n // chunk, chunk, *x.shape[1:])
    gs = g.reshape(n // chunk, chunk, *g.shape[1:])

    def part(a):
        return jax.vjp(lambda b: conv.conv_xla(a[0], b, 1), w)[1](a[1])[0]

    return lax.map(part, (xs, gs)).sum(0)


def _variants(x, w, g):
    """Named jitted computations of one layer's value, dx and dw."""
    k, ci, co = w.shape[0], w.shape[2], w.shape[3]
    n = x.shape[0]
    vjp_x = lambda x, w, g: jax.vjp(lambda a: conv.conv_xla(a, w, 1), x)[1](g)[0]
    vjp_w = lambda x, w, g: jax.vjp(lambda b: conv.conv_xla(x, b, 1), w)[1](g)[0]
    chunks = lambda fn, a: jnp.concatenate(
        [fn(a[i : i + conv.FWD_BATCH_CHUNK]) for i in range(0, n, conv.FWD_BATCH_CHUNK)]
    )
    flip = lambda w, g: conv.input_grad(x.shape, w, g, 1)  # the rules' own choice
    flat = lambda w, g: lax.conv_general_dilated(
        g,
        jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2),
        (1, 1),
        [((k - 1) // 2, (k - 1) // 2)] * 2,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    out = {
        "value/xla": (lambda x, w, g: conv.conv_xla(x, w, 1)),
        "value/chunks": (lambda x, w, g: chunks(lambda a: conv.conv_xla(a, w, 1), x)),
        "value/rule": (lambda x, w, g: conv.cpu_value(x, w, 1)),
        "dx/flipped": (lambda x, w, g: flat(w, g)),
        "dx/flipped_chunks": (lambda x, w, g: chunks(lambda a: flat(w, a), g)),
        "dx/xla": vjp_x,
        "dx/rule": (lambda x, w, g: flip(w, g)),
        "dw/im2col": (lambda x, w, g: conv.weight_grad_im2col(x, g, k, 1)),
        "dw/xla": vjp_w,
    }
    # The same chunks as a loop (lax.map) instead of unrolled: a smaller
    # program, measured to run several times slower on the CPU.
    if n % 4 == 0:
        out["dw/map4"] = lambda x, w, g: _weight_grad_loop(x, w, g, 4)
    for c in (2, 4, 8):
        out[f"dw/chunks{c}"] = lambda x, w, g, c=c: conv.weight_grad_blocked(
            x, w, g, 1, c
        )
    if k == 1:
        out["value/matmul"] = lambda x, w, g: jnp.dot(
            x.reshape(-1, ci), w.reshape(ci, co)
        ).reshape(*x.shape[:3], co)
        out["dx/matmul"] = lambda x, w, g: jnp.dot(
            g.reshape(-1, co), w.reshape(ci, co).T
        ).reshape(x.shape)
    out["layer/cpu"] = lambda x, w, g: jax.vjp(
        lambda a, b: conv.conv_cpu(a, b, 1), x, w
    )[1](g)
    out["layer/xla"] = lambda x, w, g: jax.vjp(
        lambda a, b: conv.conv_xla(a, b, 1), x, w
    )[1](g)
    return {name: jax.jit(fn) for name, fn in out.items()}


def _shape_row(k: int, ci: int, co: int, batch: int, size: int, repeats: int):
    rng = np.random.default_rng(k * 100 + ci)
    x = jnp.asarray(rng.standard_normal((batch, size, size, ci), np.float32))
    w = jnp.asarray(
        rng.standard_normal((k, k, ci, co), np.float32) / np.sqrt(k * k * ci)
    )
    g = jnp.asarray(rng.standard_normal((batch, size, size, co), np.float32))
    ms = {}
    for name, fn in _variants(x, w, g).items():
        call = lambda fn=fn: jax.block_until_ready(fn(x, w, g))
        call()
        ms[name] = 1e3 * time_runs(call, repeats)[0]
    # The two full layers also include the value (forward pass) in training.
    ms["layer/cpu"] += ms["value/rule"]
    ms["layer/xla"] += ms["value/xla"]
    dw_rule = (
        "dw/im2col" if conv.use_im2col(k, ci) else f"dw/chunks{conv.DW_BATCH_CHUNK}"
    )
    row = {"kernel": k, "in_channels": ci, "out_channels": co, "ms": ms}
    for part in ("value", "dx", "dw"):
        timed = {
            n: v
            for n, v in ms.items()
            if n.startswith(part + "/") and n != f"{part}/rule"
        }
        best = min(timed, key=timed.get)
        rule_ms = ms[dw_rule] if part == "dw" else ms[f"{part}/rule"]
        row[part] = {
            "fastest": best,
            "rule": dw_rule if part == "dw" else f"{part}/rule",
            "rule_over_fastest": rule_ms / timed[best],
        }
    row["layer_speedup_vs_xla"] = ms["layer/xla"] / ms["layer/cpu"]
    return row


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.peer:
        conv_peer.main(
            FLAGS.layers,
            FLAGS.input,
            FLAGS.batch,
            FLAGS.repeats,
            FLAGS.smoke,
            FLAGS.out,
        )
        return
    kernels, channels = (KERNELS, IN_CHANNELS)
    batch, size, repeats = FLAGS.batch, FLAGS.size, FLAGS.repeats
    if FLAGS.smoke:
        kernels, channels, batch, size, repeats = (1, 3), (3,), 20, 9, 2
    co = FLAGS.out_channels
    rows = []
    for k in kernels:
        for ci in channels:
            row = _shape_row(k, ci, co, batch, size, repeats)
            rows.append(row)
            ms = row["ms"]
            parts = "".join(
                f" | {p} {row[p]['fastest']} rule x{row[p]['rule_over_fastest']:.2f}"
                for p in ("value", "dx", "dw")
            )
            print(
                f"K={k} Ci={ci:2d} Co={co}: layer {ms['layer/cpu']:7.2f} ms (XLA "
                f"{ms['layer/xla']:7.2f}, x{row['layer_speedup_vs_xla']:.2f}){parts}",
                flush=True,
            )
    speedups = [r["layer_speedup_vs_xla"] for r in rows]
    result = {
        "benchmark": "bench_conv",
        **environment(),
        "batch": batch,
        "size": size,
        "out_channels": co,
        "repeats": repeats,
        "smoke": FLAGS.smoke,
        "rules": {
            "IM2COL_MAX_PATCH": conv.IM2COL_MAX_PATCH,
            "DW_BATCH_CHUNK": conv.DW_BATCH_CHUNK,
            "CHUNKED_CONVS": conv.CHUNKED_CONVS,
            "CHUNK_MIN_MACS": conv.CHUNK_MIN_MACS,
            "FWD_BATCH_CHUNK": conv.FWD_BATCH_CHUNK,
        },
        "shapes": rows,
        "median_layer_speedup_vs_xla": float(np.median(speedups)),
        "worst_rule_over_fastest": max(
            r[p]["rule_over_fastest"] for r in rows for p in ("value", "dx", "dw")
        ),
    }
    write_benchmark(result, FLAGS.out)


if __name__ == "__main__":
    run(main, compile_cache=False)
