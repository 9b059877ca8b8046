"""Tiny networks and designs for the HLS exporter's tests."""

import jax
import numpy as np

from cosearch.child.network import init_variables, make_model


def tiny_variables(arch, input_shape, num_classes, head, seed=0):
    """Random variables of a child, with BatchNorm statistics, biases and
    affine parameters away from their initial values (so that folding them
    matters)."""
    model = make_model(arch, num_classes, head=head)
    v = jax.tree.map(
        np.asarray, init_variables(model, input_shape, jax.random.key(seed))
    )
    rng = np.random.default_rng(seed)
    for i, (_, f, _) in enumerate(arch):
        u = lambda lo, hi, f=f: rng.uniform(lo, hi, f).astype(np.float32)
        v["batch_stats"][f"BatchNorm_{i}"] = {"mean": u(0.0, 0.5), "var": u(0.3, 2.0)}
        v["params"][f"BatchNorm_{i}"] = {"scale": u(0.5, 1.5), "bias": u(-0.3, 0.3)}
        v["params"][f"Conv_{i}"]["bias"] = u(-0.3, 0.3)
    return v


def stage(first, last, tm, tn, tr, tc, tk=3, device="XC7Z020", slot=None):
    """A stage record in best_designs.json's format."""
    rec = {
        "layers": [first, last],
        "device": device,
        "tiling": {"tm": tm, "tn": tn, "tr": tr, "tc": tc, "tk": tk,
                   "wp": 2, "ip": 2, "op": 2},
    }  # fmt: skip
    if slot is not None:
        rec["slot"] = slot
    return rec


def entry(arch, *stages):
    """A design entry in best_designs.json's format."""
    layers = [list(lay) for lay in arch]
    return {
        "architecture": ";".join(",".join(map(str, lay)) for lay in arch),
        "layers": layers,
        "design": {"stages": list(stages)},
    }
