"""Shared by the launchers that rank architectures against a reference set
(experiments.reference_set, experiments.score_fidelity,
experiments.proxy_fidelity): what a set is valid for, and training-free
scores measured, timed and tabulated against it."""

from __future__ import annotations

import time

from cosearch.child import scores as scores_lib
from cosearch.final import reference
from cosearch.hardware.architecture import Architecture


def measure(
    archs: list[Architecture],
    dataset,
    names,
    images: int,
    key,
    chunk: int,
    max_kernel: int,
    max_filters: int,
    head: str,
    log=print,
) -> tuple[dict, dict]:
    """Scores ``[A]`` by name, and their timings: ``first_pass_s`` over all
    ``A`` architectures (compiles included) and ``ms_per_arch`` of a warm
    second pass over the first chunk."""
    scorer = scores_lib.Scorer(max_kernel, max_filters, chunk)
    values, timing = {}, {}
    for name in names:
        t0 = time.perf_counter()
        values[name] = scorer.score(archs, dataset, key, (name,), images, head)[name]
        first = time.perf_counter() - t0
        part = archs[:chunk]
        t0 = time.perf_counter()
        scorer.score(part, dataset, key, (name,), images, head)
        warm = time.perf_counter() - t0
        timing[name] = {
            "first_pass_s": first,
            "ms_per_arch": 1e3 * warm / len(part),
            "kind": scores_lib.SCORES[name].kind,
        }
        log(
            f"{name}: {len(archs)} architectures in {first:.1f} s (compile "
            f"included); warm {timing[name]['ms_per_arch']:.1f} ms per architecture"
        )
    return values, timing


def table(ref: reference.ReferenceSet, values, timing, input_shape) -> dict:
    """Per score: its agreement with the set and its timing."""
    macs = [Architecture.parse(a).macs(input_shape) for a in ref.architectures]
    return {
        name: {**ref.agreement(values[name], macs), **timing[name]} for name in values
    }


def print_table(rows: dict) -> None:
    print(
        f"{'score':<16} {'tau':>6} {'top10%':>7} {'tau|MACs bins':>14} "
        f"{'tau w/ MACs':>12} {'ms/arch':>9}",
        flush=True,
    )
    for name, r in rows.items():
        print(
            f"{name:<16} {r['tau']:+6.2f} {r['top_hits']:7.2f} "
            f"{r['tau_within_macs_bins']:+14.2f} {r['tau_with_macs']:+12.2f} "
            f"{r['ms_per_arch']:9.1f}",
            flush=True,
        )
