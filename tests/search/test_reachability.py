"""The rule behind refusing an unreachable spec (docs/design.md 4.6): layer
cycles never fall when a kernel, a channel count or a feature map grows, nor
rise when a stride grows, so the lightest architecture's optimum bounds
throughput and latency over the space."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.hardware import optimizer as optimizer_lib
from cosearch.hardware.architecture import arch_arrays
from cosearch.hardware.layer_model import layer_cycles
from cosearch.policy import masks
from cosearch.search import reachability
from cosearch.search import setup as search_setup
from experiments.configs import default

CASES = 20_000


def _random_layers(rng):
    """Layer shapes and tilings, ``CASES`` of each (kernels odd)."""
    shape = {
        "n": rng.integers(1, 129, CASES),
        "m": rng.integers(1, 129, CASES),
        "r": rng.integers(1, 57, CASES),
        "c": rng.integers(1, 57, CASES),
        "k": 2 * rng.integers(0, 4, CASES) + 1,
        "s": rng.integers(1, 3, CASES),
    }
    tiling = {
        "tm": rng.integers(1, 65, CASES),
        "tn": rng.integers(1, 17, CASES),
        "tr": rng.integers(1, 29, CASES),
        "tc": rng.integers(1, 29, CASES),
        "wp": rng.integers(1, 9, CASES),
        "ip": rng.integers(1, 9, CASES),
        "op": rng.integers(1, 9, CASES),
    }
    return shape, tiling


def _cycles(shape, tiling):
    return layer_cycles(**shape, **tiling, xp=np)[0]


def test_layer_cycles_are_monotone_in_every_architecture_choice():
    rng = np.random.default_rng(0)
    shape, tiling = _random_layers(rng)
    base = _cycles(shape, tiling)
    grown = {
        "k": shape["k"] + 2,
        "n": shape["n"] + rng.integers(1, 33, CASES),
        "m": shape["m"] + rng.integers(1, 33, CASES),
        "r": shape["r"] + rng.integers(1, 9, CASES),
        "c": shape["c"] + rng.integers(1, 9, CASES),
    }
    for field, value in grown.items():
        more = _cycles({**shape, field: value}, tiling)
        assert np.all(more >= base), field
    strided = _cycles({**shape, "s": shape["s"] + 1}, tiling)
    assert np.all(strided <= base)
    # The check can fail: cycles do fall as the tiling grows.
    wider = _cycles(shape, {**tiling, "tm": tiling["tm"] + 8})
    assert np.any(wider < base)


def test_the_lightest_architecture_bounds_the_space():
    """Its optimum beats 256 random architectures of the default space on
    throughput and latency (every design, no specs)."""
    setup = search_setup.build(default.get_config())
    light = reachability.lightest_architecture(setup.space.arch)
    arch_only = setup.full_space.architecture_only()
    tokens = masks.uniform_sample(arch_only, jax.random.key(0), 256)
    archs = [light] + [a for a, _ in arch_only.decode_batch(tokens)]
    arrays = arch_arrays(archs, setup.input_shape, xp=jnp)
    fps = optimizer_lib.optimize(arrays, setup.design_space, "throughput")
    lat = optimizer_lib.optimize(arrays, setup.design_space, "latency")
    best_fps, best_lat = np.asarray(fps.best_fps), np.asarray(lat.best_latency)
    assert np.all(best_fps[1:] <= best_fps[0])
    assert np.all(best_lat[1:] >= best_lat[0])
    assert best_fps[1:].max() < best_fps[0]  # a bound, not a tie everywhere


def test_the_demo_variant_is_the_default_search_at_a_tighter_reachable_spec():
    """`make demo`'s config differs from the default in its spec (and the
    efficiency bound that follows it) and a smaller budget, and the spec
    passes setup's reachability check."""

    def flat(c):
        return {
            (group, key): value
            for group, node in c.to_dict().items()
            for key, value in (node.items() if isinstance(node, dict) else [("", node)])
        }

    base, demo = flat(default.get_config()), flat(default.get_config("demo"))
    assert base.keys() == demo.keys()
    differ = {k for k in base if base[k] != demo[k]}
    assert differ == {
        ("specs", "min_fps"),
        ("reward", "eff_hi"),
        ("search", "max_children"),
    }
    assert demo["search", "max_children"] < base["search", "max_children"]
    assert demo["specs", "min_fps"] > base["specs", "min_fps"]
    assert demo["reward", "eff_hi"] == 2 * demo["specs", "min_fps"]
    setup = search_setup.build(default.get_config("demo"))
    assert setup.specs.min_fps == 3000.0
    with pytest.raises(ValueError, match="known: demo, smoke"):
        default.get_config("nosuch")
