"""Everything a search is built from, made and checked from its config.

:func:`build` turns an ml_collections config (see experiments/configs) into
a :class:`cosearch.search.settings.Setup` of immutable host objects:
platform, design grids, specs, search space, controller, reward bounds, data
set and child trainer. It is the one reader of a search's config: every
user error (unknown field value, unknown FPGA, impossible spec, missing data)
becomes one :class:`SearchConfigError` with a one-line message, raised before
anything is trained, and after it nothing reads the config again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

from cosearch import data as data_lib
from cosearch.child import batched as batched_lib
from cosearch.child import train as train_lib
from cosearch.final import FinalSettings
from cosearch.final import reference as reference_lib
from cosearch.final.runner import settings_record
from cosearch.final.store import fingerprint
from cosearch.hardware import grid as grid_lib
from cosearch.hardware import optimizer as optimizer_lib
from cosearch.hardware.devices import (
    HardwareConfigError,
    Platform,
    load_library,
    resolve_platform,
)
from cosearch.hardware.platform_arrays import platform_arrays
from cosearch.hardware.specs import OBJECTIVE_FIGURE, Specs
from cosearch.policy import controller as controller_lib
from cosearch.policy import reinforce
from cosearch.policy.reward import RewardConfig
from cosearch.policy.space import SearchSpace
from cosearch.policy.value_sets import ArchSpace, HardwareSpace
from cosearch.search.config_checks import (
    SearchConfigError,
    check_finite,
    choice,
    field_error,
    finite,
    integer,
    value_at,
)
from cosearch.search.reachability import check_specs_reachable
from cosearch.search.search_config import search_settings
from cosearch.search.settings import (
    HwAwareSettings,
    ParallelSettings,
    Setup,
)
from cosearch.search.strategies import strategy as strategy_entry

HW_OBJECTIVES = ("throughput", "energy")


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


def config_json(config) -> dict[str, Any]:
    """An ml_collections config as plain JSON-ready nested dicts."""
    return json.loads(config.to_json_best_effort())


def build(config, parallel: ParallelSettings | None = None) -> Setup:
    """Check ``config`` and build the search's pieces (loads the data set).

    Args:
      config: an ml_collections config (experiments/configs/default.py).
      parallel: ``config.parallel`` as :func:`parallel_settings` read it, when
        the caller needed it before the build (None: read here).

    Raises:
      SearchConfigError: any problem, in one line naming the config field.
    """
    c = config
    check_finite(c)
    seed = integer(c, "seed")
    strategy = str(value_at(c, "strategy"))
    entry = strategy_entry(strategy)
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
    space = full_space.architecture_only() if entry.architecture_only else full_space
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
    reward_mode = str(value_at(c, "reward.mode"))
    tie_weight = finite(c, "reward.tie_weight")
    try:
        reward_cfg = RewardConfig(
            alpha=float(c.reward.alpha),
            acc_lo=float(c.reward.acc_lo),
            acc_hi=float(c.reward.acc_hi),
            eff_lo=float(eff_lo),
            eff_hi=float(c.reward.eff_hi),
            acc_noise=float(c.reward.acc_noise),
            mode=reward_mode,
            tie_weight=tie_weight,
        )
    except ValueError as e:
        reward_error, reward_cfg = field_error("reward", str(e)), None
    else:
        reward_error = None
    search = search_settings(c)
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
        config_json=config_json(c),
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
        parallel=parallel if parallel is not None else parallel_settings(c),
    )
    path = str(value_at(c, "final.reference_set"))
    if path:
        try:
            reference = reference_lib.read(path)
            reference.check_drawn_for(setup.drawn_for(), path)
        except reference_lib.ReferenceSetError as e:
            raise field_error("final.reference_set", str(e)) from None
        if fingerprint(reference.settings) != fingerprint(
            settings_record(final, dataset)
        ):
            raise field_error(
                "final.reference_set",
                f"{path} was trained with other final settings than config.final "
                "(its percentiles would compare other budgets)",
            )
        setup = dataclasses.replace(setup, reference=reference)
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
    parallel_runs = integer(c, "final.parallel_runs")
    try:
        return FinalSettings(train, seeds, max_designs, noise, parallel_runs)
    except ValueError as e:
        raise field_error("final", str(e)) from None
