"""Build an exported project with g++ (its Makefile) and C-simulate it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cosearch.errors import UserError
from cosearch.hls.export import ap_types_dir, read_manifest

MODES = ("float", "fixed")


class CsimError(UserError, RuntimeError):
    """g++ or make missing, or the build or the simulation failed."""


class LoopCount(NamedTuple):
    """Tile iterations of one layer's loops (one image)."""

    weight_loads: int
    input_loads: int
    computes: int
    stores: int


class CsimResult(NamedTuple):
    """What a C-simulation wrote.

    Attributes:
      logits: ``[B, classes]`` float32.
      features: ``[B, H', W', M]`` float32, the last feature map.
      loop_counts: per layer (a counting build), else None.
      build_s: seconds to build (0 when the binary was up to date).
      run_s: seconds the simulation ran.
    """

    logits: np.ndarray
    features: np.ndarray
    loop_counts: tuple[LoopCount, ...] | None
    build_s: float
    run_s: float


def have_compiler() -> bool:
    """Whether g++ and make are on the PATH."""
    return shutil.which("g++") is not None and shutil.which("make") is not None


def build(project: str, mode: str = "fixed", count_loops: bool = False) -> str:
    """Build the C-simulation binary with the project's Makefile.

    Args:
      project: the exported folder.
      mode: "float" (``-DCOSEARCH_FLOAT``) or "fixed" (ap_fixed words).
      count_loops: add ``-DCOSEARCH_COUNT_LOOPS``.

    Returns:
      The binary's path.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    if not have_compiler():
        raise CsimError("C-simulation needs g++ and make on the PATH")
    target = f"build/csim_{mode}{'_count' if count_loops else ''}"
    read_manifest(project)  # an exported project
    ap_types = ap_types_dir()
    if not os.path.isfile(os.path.join(ap_types, "ap_fixed.h")):
        raise CsimError(f"no ap_fixed.h in {ap_types} (the vendored ap_types)")
    proc = subprocess.run(
        ["make", "-C", project, target, f"AP_TYPES={ap_types}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-20:]
        raise CsimError(f"building {target} failed:\n" + "\n".join(tail))
    return os.path.join(project, target)


def write_images(path: str, images: np.ndarray) -> None:
    """``images.bin``: int32 count, H, W, C, then float32 NHWC images."""
    images = np.asarray(images, np.float32)
    with open(path, "wb") as f:
        f.write(np.asarray(images.shape, "<i4").tobytes())
        f.write(images.astype("<f4").tobytes())


def _counts(path: str) -> tuple[LoopCount, ...]:
    rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    return tuple(LoopCount(*map(int, row[1:])) for row in rows)


def run(
    project: str,
    images: np.ndarray,
    mode: str = "fixed",
    count_loops: bool = False,
) -> CsimResult:
    """Build (if needed) and run the testbench on ``images``.

    Args:
      project: the exported folder.
      images: ``[B, H, W, C]`` float32 (NHWC), normalised like the training
        data.
      mode: "float" or "fixed".
      count_loops: an instrumented build; ``loop_counts`` is filled.

    Returns:
      A :class:`CsimResult`.
    """
    t0 = time.perf_counter()
    binary = build(project, mode, count_loops)
    build_s = time.perf_counter() - t0
    manifest = read_manifest(project)
    out_shape: Sequence[int] = manifest["output_shape"]
    classes = int(manifest["num_classes"])
    with tempfile.TemporaryDirectory(prefix="cosearch-csim-") as tmp:
        write_images(os.path.join(tmp, "images.bin"), images)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                os.path.abspath(binary),
                os.path.join(os.path.abspath(project), "params"),
                os.path.join(tmp, "images.bin"),
                tmp,
            ],
            capture_output=True,
            text=True,
        )
        run_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise CsimError(f"C-simulation failed: {proc.stderr.strip()[-500:]}")
        n = len(images)
        logits = np.fromfile(os.path.join(tmp, "logits.bin"), "<f4")
        features = np.fromfile(os.path.join(tmp, "features.bin"), "<f4")
        counts = _counts(os.path.join(tmp, "loop_counts.csv")) if count_loops else None
    return CsimResult(
        logits=logits.reshape(n, classes),
        features=features.reshape(n, *out_shape),
        loop_counts=counts,
        build_s=build_s,
        run_s=run_s,
    )
