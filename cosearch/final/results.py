"""Final accuracies from final-training runs, and the designs chosen on them.

Pure functions over the run records of :mod:`cosearch.final.store` and the
pair records of a search's history (docs/design.md section 8).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np


class FinalAccuracy(NamedTuple):
    """Test accuracy of one architecture over its final-training seeds.

    Attributes:
      mean: mean test accuracy (fraction; a failed run counts as 0).
      std: sample standard deviation over the seeds (0 for one seed).
      low: lowest seed's accuracy.
      high: highest seed's accuracy.
      seeds: runs averaged.
      failed: runs that stopped on a NaN/inf loss.
    """

    mean: float
    std: float
    low: float
    high: float
    seeds: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()

    def text(self) -> str:
        """``87.12% ± 0.31 (2 seeds)``."""
        return f"{100 * self.mean:.2f}% ± {100 * self.std:.2f} ({self.seeds} seeds)"


def aggregate(
    runs: Sequence[dict[str, Any]], seeds: int | None = None
) -> dict[str, FinalAccuracy]:
    """Final accuracy by architecture (``"k,f,s;..."``) from run records.

    Args:
      runs: records with ``architecture``, ``seed``, ``test_accuracy`` and
        ``failed``; a later record of one (architecture, seed) replaces an
        earlier one.
      seeds: when given, only architectures with every seed ``0..seeds-1``
        measured, averaged over those seeds.
    """
    by_arch: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        by_arch.setdefault(r["architecture"], {})[int(r["seed"])] = r
    out = {}
    for arch, per_seed in by_arch.items():
        if seeds is not None:
            if any(s not in per_seed for s in range(seeds)):
                continue
            per_seed = {s: per_seed[s] for s in range(seeds)}
        acc = np.array(
            [0.0 if r["failed"] else r["test_accuracy"] for r in per_seed.values()]
        )
        out[arch] = FinalAccuracy(
            mean=float(acc.mean()),
            std=float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
            low=float(acc.min()),
            high=float(acc.max()),
            seeds=int(acc.size),
            failed=sum(bool(r["failed"]) for r in per_seed.values()),
        )
    return out


def picks(
    opt_sw: dict[str, Any] | None,
    opt_hw: dict[str, Any] | None,
    front: Sequence[dict[str, Any]],
    max_designs: int,
) -> list[tuple[str, dict[str, Any]]]:
    """The designs a user would take, in the order they are finalized:
    (role, pair record) for OptSW, OptHW, then the Pareto front by proxy
    accuracy; a design's accuracy is its architecture's, so the list stops
    once it spans ``max_designs`` distinct architectures (a later design of
    an architecture already in it is kept: it costs no training)."""
    out: list[tuple[str, dict[str, Any]]] = []
    archs: list[str] = []
    seen: set[tuple[str, str]] = set()
    candidates = [("OptSW", opt_sw), ("OptHW", opt_hw)]
    candidates += [(f"front {i}", p) for i, p in enumerate(front)]
    for role, pair in candidates:
        if pair is None:
            continue
        key = (pair["architecture"], repr(pair.get("design")))
        if key in seen:
            continue
        if pair["architecture"] not in archs:
            if len(archs) == max_designs:
                continue
            archs.append(pair["architecture"])
        seen.add(key)
        out.append((role, pair))
    return out


def choose(
    pairs: Sequence[dict[str, Any]],
    finals: dict[str, FinalAccuracy],
    hw_value: Callable[[dict[str, Any]], float],
    margin: float,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """OptSW and OptHW chosen again on final test accuracy.

    Args:
      pairs: pair records meeting the specs (the finalized designs).
      finals: final accuracy by architecture; pairs without one are left out.
      hw_value: the hardware objective of a pair, larger is better.
      margin: OptHW's accuracy margin below OptSW's (fraction).

    Returns:
      (OptSW: best final accuracy, ties broken by the hardware objective;
      OptHW: best hardware objective among pairs whose final accuracy is
      within ``margin`` of OptSW's), each None without a finalized pair.
    """
    done = [p for p in pairs if p["architecture"] in finals]
    if not done:
        return None, None

    def acc(p):
        return finals[p["architecture"]].mean

    opt_sw = max(done, key=lambda p: (acc(p), hw_value(p)))
    near = [p for p in done if acc(p) >= acc(opt_sw) - margin]
    opt_hw = max(near, key=lambda p: (hw_value(p), acc(p)))
    return opt_sw, opt_hw


def is_tie(a: float, b: float, margin: float) -> bool:
    """Whether two final accuracies tie: within ``margin`` (rounding of the
    accuracies' arithmetic aside)."""
    return abs(a - b) <= margin + 1e-9


def compare_text(name_a: str, a: float, name_b: str, b: float, margin: float) -> str:
    """One sentence comparing two final accuracies under the tie rule."""
    diff = 100 * (a - b)
    if is_tie(a, b, margin):
        return (
            f"{name_a} and {name_b} tie on final accuracy ({100 * a:.2f}% vs "
            f"{100 * b:.2f}%: {abs(diff):.2f} points apart, within the tie "
            f"margin of {100 * margin:.2f})"
        )
    better, worse = (name_a, name_b) if diff > 0 else (name_b, name_a)
    return (
        f"{better} is more accurate than {worse} ({abs(diff):.2f} points, beyond "
        f"the tie margin of {100 * margin:.2f})"
    )
