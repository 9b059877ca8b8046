"""Everything a search is built from, made and checked from its config.

:func:`build` turns an ml_collections config (see experiments/configs) into
a :class:`Setup` of immutable host objects: platform, design grids, specs,
search space, controller, reward bounds, data set and child trainer. Every
user error (unknown field value, unknown FPGA, impossible spec, missing data)
becomes one :class:`SearchConfigError` with a one-line message, raised before
anything is trained.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cosearch import batched as batched_lib
from cosearch import controller as controller_lib
from cosearch import data as data_lib
from cosearch import reinforce
from cosearch import space as space_lib
from cosearch import train as train_lib
from cosearch.errors import UserError
from cosearch.hardware import grid as grid_lib
from cosearch.hardware import optimizer as optimizer_lib
from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.devices import (
    HardwareConfigError,
    Platform,
    PlatformArrays,
    load_library,
    platform_arrays,
    resolve_platform,
)
from cosearch.hardware.specs import OBJECTIVE_FIGURE, Specs
from cosearch.reward import RewardConfig
from cosearch.space import ArchSpace, HardwareSpace, SearchSpace

STRATEGIES = ("coexplore", "hw_aware", "sequential", "random")
HW_OBJECTIVES = ("throughput", "energy")

# Config fields that only some strategies read, by strategy (hw_aware's go
# into Setup.hw_aware). A run of any other strategy ignores them, so they may
# differ when it is resumed (cosearch.search).
STRATEGY_FIELDS: dict[str, tuple[str, ...]] = {
    "hw_aware": (
        "search.hw_aware_design",
        "search.hw_aware_reference",
        "reward.hw_aware_w",
    ),
}


class SearchConfigError(UserError, ValueError):
    """A config that cannot run; the message is one line naming the field."""


class WorkdirBusyError(SearchConfigError):
    """Another search holds the workdir."""


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """The budget and pace of a search (``config.search``), checked.

    Attributes:
      episodes: episode limit; None for none (a run then ends on
        ``max_children`` or ``max_wall_s``).
      candidates: proposals sampled and scored by the fast level per
        episode (coexplore, random).
      children_per_episode: most children trained per episode; the
        architecture-only strategies (hw_aware, sequential) sample this many
        and train all of them.
      max_children: trained-children budget; None for none.
      max_wall_s: wall-time budget, seconds; None for none.
      max_idle_episodes: the run ends after this many episodes in a row that
        trained no new child (every proposal pruned or already measured).
      checkpoint_every: episodes between checkpoints.
      opt_hw_margin: OptHW's accuracy margin below OptSW (fraction).
    """

    episodes: int | None
    candidates: int
    children_per_episode: int
    max_children: int | None
    max_wall_s: float | None
    max_idle_episodes: int
    checkpoint_every: int
    opt_hw_margin: float


@dataclasses.dataclass(frozen=True)
class HwAwareSettings:
    """hw_aware's fixed hardware and reward (the fields of
    ``STRATEGY_FIELDS["hw_aware"]``), read by that strategy only.

    Attributes:
      design: JSON file of the fixed design; "" to derive it from the
        reference network.
      reference: the reference network, ``"k,f,s;..."``; "" for the default
        (:func:`cosearch.strategies.default_reference`).
      w: the MnasNet soft-constraint exponent of the reward.
    """

    design: str
    reference: str
    w: float


@dataclasses.dataclass(frozen=True)
class ParallelSettings:
    """Where children train (``config.parallel``).

    Attributes:
      devices: local devices per process; 0 for all of them.
    """

    devices: int


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
    """The immutable pieces of a search.

    Everything a search reads is here, typed and checked; ``config`` is kept
    only for the run's config.json and its resume fingerprint.

    Attributes:
      config: the (locked) config it was built from.
      seed: root of every random key of the run.
      strategy: one of STRATEGIES.
      parrays: the pool as arrays for the cost model.
      design_space: the pool and its per-device grids, prepared for the
        optimizer (platform, bits and BRAM switch are read from it).
      specs: the hardware specs.
      objective: hardware objective of the reward: "throughput" or "energy".
      space: token space of the controller (architecture-only for hw_aware
        and sequential).
      full_space: architecture + hardware token space (for records).
      controller: the LSTM policy.
      reinforce_config: REINFORCE hyperparameters.
      reward_config: normalisation bounds of the reward.
      dataset: the child data set.
      train_config: the child-training budget.
      batched_training: train an episode's children together, one program
        per stride pattern (``train.batched``, resolved for this backend).
      input_shape: (height, width, channels) of the children's input.
      search: the budget and pace of the search.
      hw_aware: hw_aware's fixed hardware and reward.
      parallel: where children train.
    """

    config: Any
    seed: int
    strategy: str
    parrays: PlatformArrays
    design_space: Any
    specs: Specs
    objective: str
    space: SearchSpace
    full_space: SearchSpace
    controller: controller_lib.Controller
    reinforce_config: reinforce.ReinforceConfig
    reward_config: RewardConfig
    dataset: Any
    train_config: Any
    batched_training: bool
    input_shape: tuple[int, int, int]
    search: SearchSettings
    hw_aware: HwAwareSettings
    parallel: ParallelSettings

    @property
    def platform(self) -> Platform:
        """The FPGA pool."""
        return self.design_space.platform

    @property
    def bits(self) -> int:
        """Word width, 16 or 32."""
        return self.design_space.bits

    @property
    def enforce_bram(self) -> bool:
        """Whether BRAM limits feasibility."""
        return self.design_space.enforce_bram


# The cost-model figures Specs.limits() bounds, in its order.
_LIMIT_FIGURES = ("throughput", "latency", "gops_per_w")


def _err(field: str, message: str) -> SearchConfigError:
    return SearchConfigError(f"config.{field}: {message}")


def _choice(config, field: str, value: str, allowed) -> str:
    if value not in allowed:
        raise _err(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _specs(c) -> Specs:
    values = {}
    for name in ("min_fps", "max_latency_ms", "min_gops_per_w"):
        v = _finite(c, f"specs.{name}")
        if v < 0:
            raise _err(f"specs.{name}", f"must be >= 0 (0 = no spec), got {v}")
        values[name] = v if v > 0 else None
    try:
        return Specs(**values)
    except ValueError as e:
        raise _err("specs", str(e)) from None


def build(config) -> Setup:
    """Check ``config`` and build the search's pieces (loads the data set).

    Raises:
      SearchConfigError: any problem, in one line naming the config field.
    """
    c = config
    _check_finite(c)
    seed = _integer(c, "seed")
    strategy = _choice(c, "strategy", c.strategy, STRATEGIES)
    objective = _choice(c, "reward.objective", c.reward.objective, HW_OBJECTIVES)
    bits = int(c.platform.bits)
    if bits not in (16, 32):
        raise _err("platform.bits", f"must be 16 or 32, got {bits}")
    try:
        library = load_library(c.platform.hardware_file or None)
        platform = resolve_platform(c.platform.name, library)
        design_space = _design_space(
            platform, c.platform.grid_file, bits, bool(c.platform.enforce_bram)
        )
    except HardwareConfigError as e:
        raise SearchConfigError(f"config.platform: {e}") from None
    specs = _specs(c)
    try:
        arch_space = ArchSpace(
            depth=int(c.space.depth),
            kernels=tuple(c.space.kernels),
            filters=tuple(c.space.filters),
            strides=tuple(c.space.strides),
        )
        hw_space = HardwareSpace.union(design_space.grids)
    except (ValueError, TypeError) as e:
        raise _err("space", str(e)) from None
    full_space = SearchSpace(arch_space, hw_space)
    space = (
        full_space.architecture_only()
        if strategy in ("hw_aware", "sequential")
        else full_space
    )
    cc = c.controller
    try:
        ctrl = controller_lib.Controller(
            space,
            hidden=int(cc.hidden),
            embed=int(cc.embed) or None,
            temperature=float(cc.temperature),
            tanh_c=float(cc.tanh_c) or None,
        )
        if ctrl.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {ctrl.temperature}")
        rcfg = reinforce.ReinforceConfig(
            learning_rate=float(cc.learning_rate),
            entropy_coef=float(cc.entropy_coef),
            baseline_decay=float(cc.baseline_decay),
            grad_clip=float(cc.grad_clip) or None,
            optimizer=cc.optimizer,
        )
    except ValueError as e:
        raise _err("controller", str(e)) from None
    # The reward's efficiency floor: the spec on the objective's figure.
    figure_limits = dict(zip(_LIMIT_FIGURES, specs.limits(), strict=True))
    eff_lo = figure_limits[OBJECTIVE_FIGURE[objective][0]]
    try:
        reward_cfg = RewardConfig(
            alpha=float(c.reward.alpha),
            acc_lo=float(c.reward.acc_lo),
            acc_hi=float(c.reward.acc_hi),
            eff_lo=float(eff_lo),
            eff_hi=float(c.reward.eff_hi),
            acc_noise=float(c.reward.acc_noise),
        )
    except ValueError as e:
        reward_error, reward_cfg = _err("reward", str(e)), None
    else:
        reward_error = None
    search = _search_settings(c)
    hw_aware = HwAwareSettings(
        design=str(c.search.hw_aware_design),
        reference=str(c.search.hw_aware_reference),
        w=_finite(c, "reward.hw_aware_w"),
    )
    dataset = _load_data(c, seed)
    train_config = _train_config(c)
    batched_training = _batched_training(c)
    setup = Setup(
        config=c,
        seed=seed,
        strategy=strategy,
        parrays=platform_arrays(platform),
        design_space=design_space,
        specs=specs,
        objective=objective,
        space=space,
        full_space=full_space,
        controller=ctrl,
        reinforce_config=rcfg,
        reward_config=reward_cfg,
        dataset=dataset,
        train_config=train_config,
        batched_training=batched_training,
        input_shape=tuple(int(v) for v in dataset.input_shape),
        search=search,
        hw_aware=hw_aware,
        parallel=parallel_settings(c),
    )
    if reward_error is not None:
        # A spec above reward.eff_hi may be out of reach altogether: say so.
        check_specs_reachable(setup)
        raise reward_error
    return setup


def parallel_settings(config) -> ParallelSettings:
    """``config.parallel`` (absent: every local device). A search needs it
    before :func:`build`, to report a failed build to its other processes."""
    devices = config.get("parallel", {}).get("devices", 0)
    try:
        return ParallelSettings(devices=int(devices))
    except (TypeError, ValueError):
        raise _err(
            "parallel.devices", f"expected an integer, got {devices!r}"
        ) from None


def _leaves(node, prefix: str = ""):
    """(dotted name, value) of every leaf of a (nested) config."""
    for key in node.keys():
        value = node[key]
        name = f"{prefix}{key}"
        if hasattr(value, "keys"):
            yield from _leaves(value, f"{name}.")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield f"{name}[{i}]", item
        else:
            yield name, value


def _check_finite(c) -> None:
    """Refuse NaN and infinite numbers anywhere in the config."""
    for name, value in _leaves(c):
        if isinstance(value, float) and not np.isfinite(value):
            raise _err(name, f"must be a finite number, got {value}")


def _get(c, field: str) -> Any:
    """The value of a dotted config field; a missing one is a user error."""
    node = c
    for part in field.split("."):
        if not hasattr(node, "keys") or part not in node.keys():
            raise _err(field, "missing from the config")
        node = node[part]
    return node


def _integer(c, field: str) -> int:
    node = _get(c, field)
    if isinstance(node, int | np.integer) and not isinstance(node, bool):
        return int(node)  # exact, however large
    value = _finite(c, field)
    if value != int(value):
        raise _err(field, f"must be a whole number, got {value:g}")
    return int(value)


def _finite(c, field: str) -> float:
    node = _get(c, field)
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise _err(field, f"expected a number, got {node!r}") from None
    if not np.isfinite(value):
        raise _err(field, f"must be a finite number, got {value}")
    return value


def _search_settings(c) -> SearchSettings:
    def number(name: str, lowest: float) -> float:
        value = _finite(c, f"search.{name}")
        if value < lowest:
            raise _err(f"search.{name}", f"must be >= {lowest:g}, got {value:g}")
        return value

    def count(name: str, lowest: int) -> int:
        value = number(name, lowest)
        if value != int(value):
            raise _err(f"search.{name}", f"must be a whole number, got {value:g}")
        return int(value)

    episodes = count("episodes", 0)
    max_children = count("max_children", 0)
    max_wall_s = number("max_wall_s", 0.0)
    if not (episodes or max_children or max_wall_s):
        raise _err(
            "search",
            "no budget: set episodes, max_children or max_wall_s (0 = no limit; "
            "at least one must be set)",
        )
    return SearchSettings(
        episodes=episodes or None,
        candidates=count("candidates_per_episode", 1),
        children_per_episode=count("children_per_episode", 1),
        max_children=max_children or None,
        max_wall_s=max_wall_s or None,
        max_idle_episodes=count("max_idle_episodes", 1),
        checkpoint_every=count("checkpoint_every", 1),
        opt_hw_margin=number("opt_hw_margin", 0.0),
    )


def _design_space(platform: Platform, grid_file: str, bits: int, enforce_bram: bool):
    """The optimizer's design space, shared by runs with the same inputs.

    The optimizer compiles one program per design space (compared by
    identity), so runs in one process with the same platform and grid file
    (same path and modification time) reuse it.
    """
    if grid_file and not os.path.isfile(grid_file):
        raise HardwareConfigError(f"grid file not found: {grid_file}")
    stamp = os.path.getmtime(grid_file) if grid_file else 0.0
    return _design_space_cached(platform, grid_file, stamp, bits, enforce_bram)


@functools.lru_cache(maxsize=16)
def _design_space_cached(platform, grid_file, stamp, bits, enforce_bram):
    del stamp  # part of the cache key only
    grid = grid_lib.load_grid(grid_file) if grid_file else None
    return optimizer_lib.design_space(
        platform, grid, bits=bits, enforce_bram=enforce_bram
    )


def _load_data(c, seed: int):
    d = c.data
    if d.data_dir and not os.path.isdir(d.data_dir):
        raise _err("data.data_dir", f"no such directory: {d.data_dir}")
    val_fraction = _finite(c, "data.val_fraction")
    try:
        return data_lib.load(
            d.name, data_dir=d.data_dir or None, val_fraction=val_fraction, seed=seed
        )
    except data_lib.DataError as e:
        raise _err("data", str(e)) from None


def _batched_training(c) -> bool:
    mode = str(c.train.get("batched", "off"))
    try:
        on = batched_lib.use_batched(mode)
    except ValueError as e:
        raise _err("train.batched", str(e)) from None
    kernels = tuple(int(k) for k in c.space.kernels)
    if on and mode == "on" and any(k % 2 == 0 for k in kernels):
        raise _err(
            "train.batched",
            f"'on' needs odd kernels (centred in the padded window), got {kernels}",
        )
    return on and all(k % 2 == 1 for k in kernels)


def _train_config(c):
    fields = dict(c.train)
    fields.pop("batched", None)  # how children are trained, not their budget
    if not fields.get("steps"):  # 0: train for `epochs` instead
        fields["steps"] = None
    if "grad_clip" in fields and not fields["grad_clip"]:  # 0: no clipping
        fields["grad_clip"] = None
    try:
        return train_lib.TrainConfig(**fields)
    except (TypeError, ValueError) as e:
        raise _err("train", str(e)) from None


def can_meet_specs(setup: Setup, archs) -> np.ndarray:
    """``[B]`` bool: some design of the space makes the architecture meet the
    specs (the fast level's verdict, without training)."""
    opt = optimizer_lib.optimize(
        arch_arrays(archs, setup.input_shape, xp=jnp),
        setup.design_space,
        setup.objective,
        setup.specs,
    )
    return ~np.asarray(opt.pruned)


def lightest_architecture(space: ArchSpace) -> Architecture:
    """The architecture with the fewest cycles on any accelerator.

    Layer cycles never decrease with kernel size or channel counts, and
    never increase with stride (docs/design.md section 4), so the smallest kernel,
    fewest filters and largest stride everywhere bounds throughput from
    above and latency from below over the whole space.
    """
    k, f, s = min(space.kernels), min(space.filters), max(space.strides)
    return Architecture(tuple((k, f, s) for _ in range(space.depth)))


def check_specs_reachable(setup: Setup) -> None:
    """Refuse specs no architecture of the space could meet, before training.

    Throughput and latency: the optimum of :func:`lightest_architecture` is
    an upper (lower) bound over the whole space. Energy efficiency is not
    monotone in the architecture, so it is probed: the lightest and the
    heaviest architectures and 254 random ones (fixed seed); the run is
    refused only when none of them reaches the spec with any design.

    Raises:
      SearchConfigError: naming the spec and the best value reachable.
    """
    sp = setup.specs
    if not sp.any:
        return
    arch_space = setup.full_space.arch
    light = lightest_architecture(arch_space)
    probes = [light]
    if sp.min_gops_per_w is not None:
        heavy = Architecture(
            tuple(
                (max(arch_space.kernels), max(arch_space.filters), 1)
                for _ in range(arch_space.depth)
            )
        )
        arch_only = setup.full_space.architecture_only()
        tokens = space_lib.uniform_sample(arch_only, jax.random.key(setup.seed), 254)
        probes += [heavy] + [a for a, _ in arch_only.decode_batch(tokens)]
    arrays = arch_arrays(probes, setup.input_shape, xp=jnp)
    needed = {
        "throughput": sp.min_fps is not None,
        "latency": sp.max_latency_ms is not None,
        "energy": sp.min_gops_per_w is not None,
    }
    best = {
        objective: optimizer_lib.optimize(
            arrays, setup.design_space, objective=objective, specs=Specs()
        )
        for objective, need in needed.items()
        if need
    }
    if "throughput" in best:
        fps = float(np.asarray(best["throughput"].throughput)[0])
    if "latency" in best:
        lat_ms = 1e3 * float(np.asarray(best["latency"].latency)[0])
    if "energy" in best:
        eff = float(np.nanmax(np.asarray(best["energy"].gops_per_w)))
    if sp.min_fps is not None and fps < sp.min_fps:
        raise _err(
            "specs.min_fps",
            f"{sp.min_fps:g} images/s is out of reach on {setup.platform.name}: the "
            f"fastest architecture of the space reaches {fps:,.1f} images/s at best",
        )
    if sp.max_latency_ms is not None and lat_ms > sp.max_latency_ms:
        raise _err(
            "specs.max_latency_ms",
            f"{sp.max_latency_ms:g} ms is out of reach on {setup.platform.name}: the "
            f"lightest architecture of the space needs {lat_ms:.4f} ms at best",
        )
    if sp.min_gops_per_w is not None and eff < sp.min_gops_per_w:
        raise _err(
            "specs.min_gops_per_w",
            f"{sp.min_gops_per_w:g} GOPS/W is out of reach on {setup.platform.name}: "
            f"the best of {len(probes)} probed architectures reaches {eff:.2f} GOPS/W",
        )
