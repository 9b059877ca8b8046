"""Shared launcher plumbing: one-line errors, argument parsing, benchmark JSON."""

from __future__ import annotations

import json
import os
import platform as _platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
from absl import app

from cosearch.fileio import atomic_write_text
from cosearch.hardware.devices import HardwareConfigError

# Errors a user can cause; launchers report them in one line, no traceback.
USER_ERRORS = (ValueError, HardwareConfigError, FileNotFoundError, KeyError)


class UsageError(ValueError):
    """Bad flag value or combination of flags."""


def run(main: Callable[[Sequence[str]], Any]) -> None:
    """``absl.app.run(main)``, with user errors ending in one line on stderr."""

    def guarded(argv):
        try:
            return main(argv)
        except USER_ERRORS as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"error: {msg}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)


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


def device_kind() -> str:
    """The accelerator kind JAX runs on, e.g. 'cpu' or 'NVIDIA H100 80GB HBM3'."""
    d = jax.devices()[0]
    return d.device_kind if d.platform != "cpu" else f"cpu ({_platform.machine()})"


def environment() -> dict[str, Any]:
    """Facts every benchmark JSON carries."""
    return {
        "device_kind": device_kind(),
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": _platform.python_version(),
        "cpu_count": os.cpu_count(),
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
