"""Shared launcher plumbing: one-line errors, argument parsing, benchmark JSON."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform as _platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging

from cosearch.errors import InputError, UserError
from cosearch.files.atomic import atomic_write_text
from cosearch.hardware.architecture import Architecture, check_input_shape
from cosearch.policy import masks
from cosearch.runtime import compile_counts, enable_compile_cache
from cosearch.search import reachability
from experiments.configs import default as default_config

# Errors a user can cause (cosearch.errors); launchers report them in one
# line, no traceback. Anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError,)


class UsageError(InputError):
    """Bad flag value or combination of flags."""


@contextlib.contextmanager
def flag_value(flag: str) -> Iterator[None]:
    """A ValueError raised inside the block becomes a :class:`UsageError`
    naming ``flag``. Wrap only the call that checks the flag's value: a
    ValueError of anything else is a bug and must keep its traceback."""
    try:
        yield
    except UsageError:
        raise
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _load_config_file(spec: str):
    """The config of ``path.py[:arg]`` (for error messages only)."""
    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def _explain_flag_error(argv: Sequence[str], error: Exception) -> str:
    """One line for a failure while parsing flags (config overrides included)."""
    text = str(error).strip().splitlines()[-1] if str(error).strip() else ""
    config_spec = next(
        (a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None
    )
    if config_spec is None:
        return text or type(error).__name__
    try:
        config = _load_config_file(config_spec)
    except FileNotFoundError:
        return f"--config: no such config file: {config_spec.partition(':')[0]}"
    except Exception as e:  # the config file's own error, e.g. a bad variant
        first = str(e).strip().splitlines()
        return f"--config={config_spec}: {first[-1] if first else type(e).__name__}"
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        path = arg[len("--config.") :].split("=", 1)[0]
        node = config
        for part in path.split("."):
            if not hasattr(node, "keys") or part not in node.keys():
                return f"unknown config field {path!r} (in {arg})"
            node = node[part]
    return f"--config: {text or type(error).__name__}"


def _parse_flags(argv: list[str]) -> list[str]:
    for arg in argv:
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1].partition(":")[0]
            if not os.path.isfile(path):
                _fail(f"--config: no such config file: {path}")
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        first = str(e).strip().splitlines()[0]
        if first.startswith("flag --config="):
            _fail(_explain_flag_error(argv, e))
        _fail(first)
    except Exception as e:  # config file or override errors
        _fail(_explain_flag_error(argv, e))
    raise AssertionError("unreachable")


def run(main: Callable[[Sequence[str]], Any], compile_cache: bool = True) -> None:
    """``absl.app.run(main)`` where user errors and bad flags end in one line.

    Args:
      main: the launcher's main.
      compile_cache: turn on the persistent compilation cache
        (:func:`cosearch.runtime.enable_compile_cache`) before ``main``.
        Benchmarks pass False (they time compilations; JAX's own settings,
        if any, stay as they are).
    """

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            # Progress is printed; library INFO logs (JAX backends, orbax) are
            # noise for a user. --verbosity=0 brings them back.
            logging.set_verbosity(logging.WARNING)
        if compile_cache:
            enable_compile_cache()
        try:
            return main(argv)
        except USER_ERRORS as e:
            _fail(str(e))

    app.run(guarded, flags_parser=_parse_flags)


def compile_line() -> str:
    """One line on this process's compilations: how many programs were
    compiled, how many loaded from the persistent cache, and where it is."""
    counts = compile_counts()
    where = f"cache {counts.cache_dir}" if counts.cache_dir else "no cache"
    return (
        f"programs: {counts.compiled} compiled, {counts.loaded} loaded from "
        f"the compile {where}"
    )


def run_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a search in ``workdir`` ran with (its config.json).

    A run made before final training existed has no ``final`` group and no
    ``train.head``: its children had the Flatten -> Dense head, and its final
    training is the default config's, with the run's own learning rate and
    head factor.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.isdir(workdir):
        raise UsageError(f"--workdir: no such directory: {workdir}")
    if not os.path.isfile(path):
        raise UsageError(
            f"--workdir={workdir}: no config.json (not a search's output folder)"
        )
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: cannot read it ({e})") from None
    if not isinstance(saved, dict) or "train" not in saved:
        raise UsageError(f"{path}: not a search's config")
    if "final" not in saved:
        final = default_config.get_config().final.to_dict()
        final["learning_rate"] = saved["train"].get("learning_rate", 0.02)
        final["head_lr_scale"] = saved["train"].get("head_lr_scale", 1.0)
        saved["final"] = final
    saved["train"].setdefault("head", "flatten")
    # Fields added since the run: their defaults are what it ran with.
    _fill_missing(saved, default_config.get_config().to_dict())
    return ml_collections.ConfigDict(saved)


def _fill_missing(saved: dict, default: dict) -> None:
    """Add to ``saved`` (in place) every field of ``default`` it lacks."""
    for key, value in default.items():
        if key not in saved:
            saved[key] = value
        elif isinstance(value, dict) and isinstance(saved[key], dict):
            _fill_missing(saved[key], value)


def require(argv: Sequence[str], **flag_values: Any) -> None:
    """Refuse stray arguments and missing required flags (``name=value``)."""
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    for name, value in flag_values.items():
        if value is None or value == "":
            raise UsageError(f"--{name} is required")


def parse_ints(text: str, what: str, count: int | None = None) -> tuple[int, ...]:
    """``"32,32,3"`` -> ``(32, 32, 3)``; raises UsageError naming ``what``."""
    try:
        vals = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise UsageError(
            f"{what}: expected comma-separated integers, got {text!r}"
        ) from None
    if count is not None and len(vals) != count:
        raise UsageError(f"{what}: expected {count} integers, got {text!r}")
    if any(v < 1 for v in vals):
        raise UsageError(f"{what}: values must be positive, got {text!r}")
    return vals


def parse_input_shape(text: str, what: str) -> tuple[int, int, int]:
    """``"32,32,3"`` -> ``(32, 32, 3)``: an input (height, width, channels)
    within the cost model's limits; raises UsageError naming ``what``."""
    shape = parse_ints(text, what, count=3)
    with flag_value(what):
        return check_input_shape(shape)


def parse_int_list(values: Sequence[str], what: str) -> list[int]:
    """``["0", "1"]`` (a list flag) -> ``[0, 1]``; raises UsageError naming
    ``what``."""
    try:
        return [int(v) for v in values]
    except ValueError:
        raise UsageError(f"{what}: expected integers, got {list(values)}") from None


def device_kind() -> str:
    """The accelerator kind JAX runs on, e.g. 'cpu' or 'NVIDIA H100 80GB HBM3'."""
    d = jax.devices()[0]
    return d.device_kind if d.platform != "cpu" else f"cpu ({_platform.machine()})"


def cpu_model() -> str:
    """The host CPU's model name (Linux's /proc/cpuinfo), or the platform's
    processor string where that is not readable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or _platform.machine()


def environment() -> dict[str, Any]:
    """Facts every benchmark JSON carries (XLA_FLAGS: the XLA options the run
    was given, empty for the defaults)."""
    return {
        "device_kind": device_kind(),
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": _platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def time_runs(fn: Callable[[], Any], repeats: int, min_seconds: float = 0.0):
    """Median wall seconds of ``fn()`` over ``repeats`` warm runs.

    ``fn`` must block until its result is ready (``block_until_ready``).
    Runs at least ``repeats`` times and until ``min_seconds`` have passed.

    Returns:
      (median seconds, list of all run times in seconds).
    """
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def write_benchmark(result: dict[str, Any], out: str | None) -> None:
    """Write the benchmark JSON to ``out`` (if given) and print it as last line."""
    text = json.dumps(result, sort_keys=True)
    if out:
        atomic_write_text(out, text + "\n")
    print(text)


def print_best(summary) -> None:
    """OptSW and OptHW of a run's summary, in one line each: on final test
    accuracy when the run has a final training, else on proxy accuracy."""
    final = summary.final
    pairs = (
        [("OptSW", summary.opt_sw), ("OptHW", summary.opt_hw)]
        if final is None
        else [("OptSW", final["OptSW"]), ("OptHW", final["OptHW"])]
    )
    if pairs[0][1] is None:
        print("no architecture met the specs")
        return
    for name, pair in pairs:
        acc = f"proxy accuracy {100 * pair['accuracy']:.2f}%"
        if pair.get("final"):
            f = pair["final"]
            acc = (
                f"final test accuracy {100 * f['mean']:.2f}% ± {100 * f['std']:.2f} "
                f"({f['seeds']} seeds; {acc})"
            )
        print(
            f"{name} {pair['architecture']}: {acc}, "
            f"{pair['throughput_fps']:,.1f} images/s, {pair['gops_per_w']:.2f} GOPS/W"
        )


def draw_architectures(
    setup: Any, count: int, seed: int, feasible_only: bool
) -> list[Architecture]:
    """``count`` distinct architectures of a search setup's space, uniformly
    drawn from ``seed``; with ``feasible_only`` only those some design makes
    meet the specs (experiments.proxy_fidelity, benchmarks.bench_child)."""
    arch_space = setup.full_space.architecture_only()
    key = jax.random.key(seed)
    found: list[Architecture] = []
    for round_ in range(64):
        round_key = jax.random.fold_in(key, round_)
        tokens = masks.uniform_sample(arch_space, round_key, 256)
        archs = [a for a, _ in arch_space.decode_batch(tokens)]
        keep = np.ones(len(archs), bool)
        if feasible_only and setup.specs.any:
            keep = reachability.can_meet_specs(setup, archs)
        for arch, ok in zip(archs, keep, strict=True):
            if ok and arch not in found:
                found.append(arch)
                if len(found) == count:
                    return found
    raise UsageError(
        f"found only {len(found)} distinct architectures meeting the specs"
    )
