"""Shared by the launchers that rank architectures against a reference
(experiments.reference_set, experiments.score_fidelity,
experiments.proxy_fidelity, experiments.halving_fidelity): training-free
scores measured, timed and tabulated against a reference set, scores
reused from an earlier score_fidelity result, and a reference read from a
reference set or an earlier proxy_fidelity result."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from cosearch.child import scores as scores_lib
from cosearch.final import reference
from cosearch.hardware.architecture import Architecture
from cosearch.policy import signal as signal_lib
from experiments.common import UsageError


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


def combined(values: dict, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The score ``name`` joins (``"a+b"``) as a search computes it
    (:class:`cosearch.policy.signal.Standardisation`: the mean of the
    parts' standardised values, a non-finite part counting as its mean),
    standardised over the architectures of ``values`` (a reference set is
    a uniform sample of the feasible space), and the names of its parts
    (each one of ``values``: score_fidelity checks ``--combine`` first).
    """
    parts = signal_lib.parse(name)
    arrays = {p: np.asarray(values[p], np.float64) for p in parts}
    finite = {p: v[np.isfinite(v)] for p, v in arrays.items()}
    standard = signal_lib.Standardisation(
        parts,
        np.array([finite[p].mean() for p in parts]),
        np.array([finite[p].std() or 1.0 for p in parts]),
    )
    return standard.z(arrays), parts


def table(ref: reference.ReferenceSet, values, timing, input_shape) -> dict:
    """Per score: its agreement with the set and its timing."""
    macs = [Architecture.parse(a).macs(input_shape) for a in ref.architectures]
    return {
        name: {**ref.agreement(values[name], macs), **timing[name]} for name in values
    }


def print_table(rows: dict) -> None:
    width = max([16, *map(len, rows)])
    heads = [f"pick/{k}" for k in reference.PICKS]
    print(
        f"{'score':<{width}} {'tau':>6} {'top10%':>7} "
        + " ".join(f"{h:>8}" for h in heads)
        + f" {'tau|MACs bins':>14} {'tau w/ MACs':>12} {'ms/arch':>9}",
        flush=True,
    )
    for name, r in rows.items():
        picks = r.get("pick_percentile", {})
        cells = [
            f"{picks[str(k)]:8.2f}" if str(k) in picks else f"{'-':>8}"
            for k in reference.PICKS
        ]
        print(
            f"{name:<{width}} {r['tau']:+6.2f} {r['top_hits']:7.2f} "
            f"{' '.join(cells)} "
            f"{r['tau_within_macs_bins']:+14.2f} {r['tau_with_macs']:+12.2f} "
            f"{r['ms_per_arch']:9.1f}",
            flush=True,
        )


def from_reference_set(path: str) -> dict[str, Any]:
    """A reference set (experiments.reference_set) in this script's reference
    form: its measured runs (an architecture missing a seed is NaN there,
    left out of every tau)."""
    ref = reference.read(path)
    index = {a: i for i, a in enumerate(ref.architectures)}
    return {
        "format": reference.FORMAT,
        "architectures": list(ref.architectures),
        "reference": {
            "runs": [
                {
                    "arch_index": index[r["architecture"]],
                    "arch": r["architecture"],
                    "seed": r["seed"],
                    "val_accuracy": r["test_accuracy"],
                    "failed": r["failed"],
                }
                for r in ref.runs()
            ],
            "train": ref.settings["train"],
            "seeds": list(ref.seeds),
            "scored_on": "test",
        },
    }


def read_reference(path: str) -> dict[str, Any]:
    """An earlier result of this script (``--reference``), or a reference set,
    checked to hold the parts that are reused."""
    try:
        with open(path) as f:
            earlier = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"--reference: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--reference={path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"--reference={path}: not valid JSON ({e})") from None
    if isinstance(earlier, dict) and earlier.get("format") == reference.FORMAT:
        return from_reference_set(path)
    ref = earlier.get("reference") if isinstance(earlier, dict) else None
    if (
        not isinstance(ref, dict)
        or "architectures" not in earlier
        or any(key not in ref for key in ("runs", "train", "seeds"))
    ):
        raise UsageError(
            f"--reference={path}: not a result of experiments.proxy_fidelity (it "
            "needs 'architectures' and 'reference' with 'runs', 'train', 'seeds')"
        )
    if ref.get("scored_on") != "test":
        raise UsageError(
            f"--reference={path}: its reference was scored on the validation split "
            "(made before the reference became the final training); measure it "
            "again with --seeds="
        )
    return earlier


def as_reference_set(
    runs, names, seeds, settings: dict[str, Any]
) -> reference.ReferenceSet:
    """A :class:`~cosearch.final.reference.ReferenceSet` of reference runs in
    this module's form (``arch``, ``seed``, ``val_accuracy``: the test
    accuracy, ``failed``), valid for no particular space."""
    return reference.from_runs(
        [
            {
                "architecture": r["arch"],
                "seed": r["seed"],
                "test_accuracy": r["val_accuracy"],
                "failed": r["failed"],
            }
            for r in runs
        ],
        names,
        seeds,
        drawn_for={},
        settings=settings,
    )


def reused_scores(path: str, architectures, names, images: int, key_seed: int):
    """The scores of ``names`` that the JSON at ``path`` holds for every one
    of ``architectures``, and their timings: ``({name: [A]}, {name: timing})``.

    Raises:
      UsageError: an unreadable file, another image count or key, or a score
        it holds for only some of the architectures.
    """
    try:
        with open(path) as f:
            old = json.load(f)
        held, rows = old["values"], old["training_free"]
        same = old["images"] == images and old["key_seed"] == key_seed
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--reuse={path}: not a score_fidelity result ({e})") from None
    if not same:
        raise UsageError(
            f"--reuse={path}: scored on {old['images']} images with key "
            f"{old['key_seed']}, not {images} and {key_seed}"
        )
    values, timing = {}, {}
    for name in names:
        if name not in held:
            continue
        missing = [a for a in architectures if a not in held[name]]
        if missing:
            raise UsageError(
                f"--reuse={path}: {name} lacks {len(missing)} architecture(s) of "
                f"the set (e.g. {missing[0]}); it holds another set"
            )
        values[name] = np.array([held[name][a] for a in architectures], np.float64)
        timing[name] = {
            k: rows[name][k] for k in ("first_pass_s", "ms_per_arch", "kind")
        }
    return values, timing
