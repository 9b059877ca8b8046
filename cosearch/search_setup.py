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

from cosearch import batched as batched_lib
from cosearch import controller as controller_lib
from cosearch import data as data_lib
from cosearch import reinforce
from cosearch import train as train_lib
from cosearch.config_checks import (
    SearchConfigError,
    check_finite,
    choice,
    field_error,
    finite,
    integer,
)
from cosearch.final import FinalSettings
from cosearch.hardware import grid as grid_lib
from cosearch.hardware import optimizer as optimizer_lib
from cosearch.hardware.devices import (
    HardwareConfigError,
    Platform,
    PlatformArrays,
    load_library,
    platform_arrays,
    resolve_platform,
)
from cosearch.hardware.specs import OBJECTIVE_FIGURE, Specs

# can_meet_specs: also importable from here (experiments/proxy_fidelity.py).
from cosearch.reachability import can_meet_specs as can_meet_specs
from cosearch.reachability import check_specs_reachable
from cosearch.reward import RewardConfig
from cosearch.space import ArchSpace, HardwareSpace, SearchSpace

STRATEGIES = ("coexplore", "hw_aware", "sequential", "random")
HW_OBJECTIVES = ("throughput", "energy")

# Config fields that only some strategies read, by strategy (hw_aware's go
# into Setup.hw_aware). A run of any other strategy ignores them, so they may
# differ when it is resumed (cosearch.run_state).
STRATEGY_FIELDS: dict[str, tuple[str, ...]] = {
    "hw_aware": (
        "search.hw_aware_design",
        "search.hw_aware_reference",
        "reward.hw_aware_w",
    ),
}


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
      train_config: the child-training budget (the proxy).
      final: the final training of the designs a search finds.
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
    final: FinalSettings
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


def _specs(c) -> Specs:
    values = {}
    for name in ("min_fps", "max_latency_ms", "min_gops_per_w"):
        v = finite(c, f"specs.{name}")
        if v < 0:
            raise field_error(f"specs.{name}", f"must be >= 0 (0 = no spec), got {v}")
        values[name] = v if v > 0 else None
    try:
        return Specs(**values)
    except ValueError as e:
        raise field_error("specs", str(e)) from None


def build(config) -> Setup:
    """Check ``config`` and build the search's pieces (loads the data set).

    Raises:
      SearchConfigError: any problem, in one line naming the config field.
    """
    c = config
    check_finite(c)
    seed = integer(c, "seed")
    strategy = choice(c, "strategy", c.strategy, STRATEGIES)
    objective = choice(c, "reward.objective", c.reward.objective, HW_OBJECTIVES)
    bits = int(c.platform.bits)
    if bits not in (16, 32):
        raise field_error("platform.bits", f"must be 16 or 32, got {bits}")
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
        raise field_error("space", str(e)) from None
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
        raise field_error("controller", str(e)) from None
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
        reward_error, reward_cfg = field_error("reward", str(e)), None
    else:
        reward_error = None
    search = _search_settings(c)
    hw_aware = HwAwareSettings(
        design=str(c.search.hw_aware_design),
        reference=str(c.search.hw_aware_reference),
        w=finite(c, "reward.hw_aware_w"),
    )
    dataset = _load_data(c, seed)
    train_config = _train_config(c)
    final = _final_settings(c, train_config)
    _check_batches(dataset, train_config, final)
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
        final=final,
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
        raise field_error(
            "parallel.devices", f"expected an integer, got {devices!r}"
        ) from None


def _search_settings(c) -> SearchSettings:
    def number(name: str, lowest: float) -> float:
        value = finite(c, f"search.{name}")
        if value < lowest:
            raise field_error(f"search.{name}", f"must be >= {lowest:g}, got {value:g}")
        return value

    def count(name: str, lowest: int) -> int:
        value = number(name, lowest)
        if value != int(value):
            raise field_error(
                f"search.{name}", f"must be a whole number, got {value:g}"
            )
        return int(value)

    episodes = count("episodes", 0)
    max_children = count("max_children", 0)
    max_wall_s = number("max_wall_s", 0.0)
    if not (episodes or max_children or max_wall_s):
        raise field_error(
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
        raise field_error("data.data_dir", f"no such directory: {d.data_dir}")
    val_fraction = finite(c, "data.val_fraction")
    try:
        return data_lib.load(
            d.name, data_dir=d.data_dir or None, val_fraction=val_fraction, seed=seed
        )
    except data_lib.DataError as e:
        raise field_error("data", str(e)) from None


def _batched_training(c) -> bool:
    mode = str(c.train.get("batched", "off"))
    try:
        on = batched_lib.use_batched(mode)
    except ValueError as e:
        raise field_error("train.batched", str(e)) from None
    kernels = tuple(int(k) for k in c.space.kernels)
    if on and mode == "on" and any(k % 2 == 0 for k in kernels):
        raise field_error(
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
        raise field_error("train", str(e)) from None


# Fields of config.final that replace config.train's in the final budget.
FINAL_TRAIN_FIELDS = (
    "steps",
    "batch_size",
    "learning_rate",
    "warmup_steps",
    "head_lr_scale",
    "weight_decay",
)


def _check_batches(dataset, train: Any, final: FinalSettings) -> None:
    """Refuse a batch larger than the images it is drawn from, before a
    search (the final training's after the search would be too late)."""
    proxy_images = len(dataset.train)
    if train.train_examples is not None:
        proxy_images = min(proxy_images, train.train_examples)
    if train.batch_size > proxy_images:
        raise field_error(
            "train.batch_size",
            f"{train.batch_size} is more than the {proxy_images} training images",
        )
    final_images = len(dataset.train) + len(dataset.val)
    if final.enabled and final.train.batch_size > final_images:
        raise field_error(
            "final.batch_size",
            f"{final.train.batch_size} is more than the {final_images} training "
            "and validation images",
        )


def _final_settings(c, train_config) -> FinalSettings:
    """``config.final``: the final budget is ``config.train`` with the fields
    of :data:`FINAL_TRAIN_FIELDS` that ``config.final`` sets."""
    f = c.get("final")
    if f is None:
        raise field_error("final", "missing from the config")
    fields = {name: f[name] for name in FINAL_TRAIN_FIELDS if name in f.keys()}
    if "steps" in fields and not fields["steps"]:
        raise field_error("final.steps", f"must be >= 1, got {fields['steps']}")
    # The final training uses every training and validation image.
    fields["train_examples"] = None
    try:
        train = dataclasses.replace(train_config, **fields)
    except (TypeError, ValueError) as e:
        raise field_error("final", str(e)) from None
    seeds = integer(c, "final.seeds")
    max_designs = integer(c, "final.max_designs")
    noise = finite(c, "final.noise")
    try:
        return FinalSettings(train, seeds, max_designs, noise)
    except ValueError as e:
        raise field_error("final", str(e)) from None
