"""``benchmarks.bench_conv --peer``: each conv layer of one design against the
PyTorch peer's (``torch.nn.functional.conv2d`` on NCHW, its oneDNN kernels).

Per layer, JAX and torch calls interleaved in rounds: the value, and the
training work (value, input gradient except for the first layer, weight
gradient) on :mod:`cosearch.child.conv`'s CPU rules, on XLA's own convolution and
autodiff, and in torch; for a stride-2 layer also the same convolution as a
stride-1 one over the space-to-depth folded input (a rewrite measured and
rejected: experiments/results/child_speed_cpu.md). GFLOP/s are set against
this machine's float32 matmul peak, measured in the same run. Convolutions
only: a training step's batch norm, ReLU, head and optimizer are not in it
(``bench_child`` times whole steps).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.machine import PEAK_N, PEAK_REPEATS, matmul_peak, timed
from benchmarks.torch_peer import setup_torch, torch_version
from cosearch.child import conv
from cosearch.hardware import geometry
from cosearch.hardware.architecture import Architecture
from cosearch.hardware.layer_model import Layer
from experiments.common import UsageError, environment, parse_ints, write_benchmark


def space_to_depth_conv(x, w):
    """The stride-2 conv of :func:`cosearch.child.conv.conv_xla` as a stride-1 one:
    the padded input folded to ``[N, H/2, W/2, 4 Ci]``, the kernel padded to
    an even size and folded alike to ``[K', K', 4 Ci, Co]``, ``K' = (K+1)/2``."""
    n, h, wd, c = x.shape
    k, co = w.shape[0], w.shape[3]
    (lo_h, _), (lo_w, _) = geometry.padding(h, k, 2), geometry.padding(wd, k, 2)
    oh, ow = geometry.out_size(h, 2), geometry.out_size(wd, 2)
    kk = (k + 1) // 2
    hp, wp = 2 * (oh - 1 + kk), 2 * (ow - 1 + kk)
    xp = jnp.pad(x, [(0, 0), (lo_h, hp - h - lo_h), (lo_w, wp - wd - lo_w), (0, 0)])
    xs = xp.reshape(n, hp // 2, 2, wp // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    xs = xs.reshape(n, hp // 2, wp // 2, 4 * c)
    we = jnp.pad(w, [(0, 2 * kk - k), (0, 2 * kk - k), (0, 0), (0, 0)])
    ws = we.reshape(kk, 2, kk, 2, c, co).transpose(0, 2, 1, 3, 4, 5)
    ws = ws.reshape(kk, kk, 4 * c, co)
    return lax.conv_general_dilated(
        xs, ws, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _jax_layer(f, x, w, g, needs_dx: bool):
    """(value(), backward(), jitted f) of the conv ``f(x, w)``, the two calls
    blocking; backward is the VJP for the weight gradient (and the input
    gradient if ``needs_dx``)."""
    value = jax.jit(f)
    if needs_dx:
        bwd = jax.jit(lambda a, b, c: jax.vjp(f, a, b)[1](c))
    else:
        bwd = jax.jit(lambda a, b, c: jax.vjp(lambda bb: f(a, bb), b)[1](c))
    return (
        lambda: jax.block_until_ready(value(x, w)),
        lambda: jax.block_until_ready(bwd(x, w, g)),
        value,
    )


def _torch_layer(x, w, g, stride: int, needs_dx: bool):
    """(value(), train(), output) of one layer in torch on NCHW: the value
    without autograd, and forward + backward as a training step runs them."""
    import torch

    k = w.shape[0]
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    xt = nchw(x).requires_grad_(needs_dx)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    wt.requires_grad_(True)
    gt = nchw(g)
    conv2d = lambda: torch.nn.functional.conv2d(xt, wt, None, stride, (k - 1) // 2)

    def value():
        with torch.no_grad():
            return conv2d()

    def train():
        xt.grad, wt.grad = None, None
        conv2d().backward(gt)

    return value, train, value().numpy().transpose(0, 2, 3, 1)


def _peer_row(layer: Layer, needs_dx: bool, rounds: int, peak: float):
    """One layer's figures against the torch peer (see module doc)."""
    k, ci, co, s, h, wd = layer.k, layer.n, layer.m, layer.s, layer.r, layer.c
    batch = layer.b
    rng = np.random.default_rng(k * 1000 + ci * 10 + co)
    x = rng.standard_normal((batch, h, wd, ci), np.float32)
    w = rng.standard_normal((k, k, ci, co), np.float32) / np.float32(
        np.sqrt(k * k * ci)
    )
    g = rng.standard_normal((batch, layer.out_rows, layer.out_cols, co), np.float32)
    jx, jw, jg = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    convs = {
        "jax": lambda a, b: conv.conv2d(a, b, s, "auto"),
        "xla": lambda a, b: conv.conv2d(a, b, s, "xla"),
    }
    if s == 2:
        convs["s2d"] = space_to_depth_conv
    fns, diffs = {}, {}
    t_value, t_train, t_out = _torch_layer(x, w, g, s, needs_dx)
    for name, f in convs.items():
        value, bwd, jitted = _jax_layer(f, jx, jw, jg, needs_dx)
        fns[f"{name}_value"], fns[f"{name}_backward"] = value, bwd
        diffs[name] = float(np.max(np.abs(np.asarray(jitted(jx, jw)) - t_out)))
    fns["torch_value"], fns["torch_train"] = t_value, t_train
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name] += timed(fn, 3)
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    for name in convs:
        ms[f"{name}_train"] = ms[f"{name}_value"] + ms[f"{name}_backward"]
    macs = layer.macs * batch
    flops = {
        "value": 2.0 * macs,
        "train": 2.0 * macs * (3 if needs_dx else 2),
    }
    gflops = {
        name: flops[name.split("_")[1]] / (v * 1e-3) / 1e9
        for name, v in ms.items()
        if name.endswith(("_value", "_train"))
    }
    speed = {
        f"{n}_over_torch_train": ms["torch_train"] / ms[f"{n}_train"] for n in convs
    }
    return {
        "layer": f"{k}x{k} {ci}->{co} s{s} @{h}x{wd}",
        "kernel": k,
        "in_channels": ci,
        "out_channels": co,
        "stride": s,
        "input_hw": [h, wd],
        "input_gradient": needs_dx,
        "mmacs": macs / 1e6,
        "ms": ms,
        "gflops_per_s": gflops,
        "share_of_peak": {n: v * 1e9 / peak for n, v in gflops.items()},
        **speed,
        "max_abs_diff_value_vs_torch": diffs,
    }


def main(
    layers: str, input_shape: str, batch: int, rounds: int, smoke: bool, out
) -> None:
    """``bench_conv --peer``: each layer of ``layers`` against the torch peer
    (see module doc); writes the JSON to ``out`` and prints it."""
    shape = parse_ints(input_shape, "--input", 3)
    arch = Architecture.parse(layers)  # InputError: reported by run()
    even = [i for i, (k, _, _) in enumerate(arch.layers) if k % 2 == 0]
    if even:
        raise UsageError(
            f"--layers: layer {even[0]} has an even kernel; the peer pads "
            "(K - 1) // 2 on each side, the same window only for odd K"
        )
    if smoke:
        batch, rounds = 8, 1
    try:
        conv_layers = arch.conv_layers(shape, batch)
    except ValueError as err:
        raise UsageError(f"--input/--batch: {err}") from None
    if torch_version() is None:
        raise UsageError("--peer needs torch: pip install -e '.[bench]'")
    peak_n, peak_repeats = PEAK_N, PEAK_REPEATS
    if smoke:
        peak_n, peak_repeats = 256, 2
    threads = setup_torch()
    peak = matmul_peak(peak_n, peak_repeats, True)["flops_per_s"]
    rows = []
    print(f"float32 matmul peak {peak / 1e9:.0f} GFLOP/s; train ms (GFLOP/s):")
    for i, layer in enumerate(conv_layers):
        row = _peer_row(layer, i > 0, rounds, peak)
        rows.append(row)
        ms, gf = row["ms"], row["gflops_per_s"]
        print(
            f"{row['layer']:24s} JAX {ms['jax_train']:7.2f} ({gf['jax_train']:4.0f})"
            f"  XLA {ms['xla_train']:7.2f} ({gf['xla_train']:4.0f})"
            f"  torch {ms['torch_train']:7.2f} ({gf['torch_train']:4.0f})"
            f"  JAX/torch speed {row['jax_over_torch_train']:.2f}"
            + (
                f"  (space-to-depth {ms['s2d_train']:.2f} ms)"
                if "s2d_train" in ms
                else ""
            ),
            flush=True,
        )
    names = ("jax_train", "xla_train", "torch_train")
    total = {n: sum(r["ms"][n] for r in rows) for n in names}
    result = {
        "benchmark": "bench_conv_peer",
        **environment(),
        "torch_version": torch_version(),
        "torch_threads": threads,
        "layers": str(arch),
        "input_shape": list(shape),
        "batch": batch,
        "rounds": rounds,
        "smoke": smoke,
        "peak_flops_per_s": peak,
        "rows": rows,
        "total_train_ms": total,
        "jax_over_torch_train": total["torch_train"] / total["jax_train"],
        "xla_over_torch_train": total["torch_train"] / total["xla_train"],
    }
    print(
        f"all layers: JAX {total['jax_train']:.1f} ms, XLA {total['xla_train']:.1f} ms,"
        f" torch {total['torch_train']:.1f} ms; JAX/torch speed "
        f"{result['jax_over_torch_train']:.2f}"
    )
    write_benchmark(result, out)
