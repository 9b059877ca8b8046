"""A reference set: the final test accuracies of many architectures of one
space, the ground truth of every ranking signal (docs/design.md section 7.4).

The architectures are drawn uniformly from a search space (those some design
makes meet the specs, as a search would train them) and each is trained
with the search's *final* budget over several seeds, scored on the test
split (:func:`cosearch.final.runner.finalize`, so a set is built and
extended resumably in a workdir). A :class:`ReferenceSet` then answers:

- how well a score ranks the space (:meth:`ReferenceSet.tau`: Kendall's tau
  of the score against the seed-mean accuracy; :meth:`ReferenceSet.top_hits`:
  the share of the set's top fraction that the score's top fraction finds;
  :meth:`ReferenceSet.pick_percentile`: where the top-scored of k random
  architectures stands, what a screen that trains its best-scored survivor
  gets);
- where a found design stands (:meth:`ReferenceSet.percentile`: the share
  of the set it beats).

The file (``reference_set.json``) holds the space, platform and specs it was
drawn for, so that it is never used for another one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cosearch.errors import UserError
from cosearch.files.atomic import json_ready
from cosearch.results.stats import kendall_tau, seed_noise_signal

# Draw sizes of pick_percentile in agreement(): a coexplore episode keeps
# ~10-20 of its 64 proposals after pruning at the default spec and trains
# the best-scored; 8 for a smaller pool.
PICKS = (8, 16)

FORMAT = "cosearch.reference_set/1"


class ReferenceSetError(UserError, ValueError):
    """A reference-set file that cannot be used (unreadable, or made for
    another space, platform or specs); the message is one line."""


@dataclasses.dataclass(frozen=True)
class ReferenceSet:
    """Final test accuracies of architectures of one space.

    Attributes:
      architectures: ``[A]`` architectures, ``"k,f,s;..."``, in draw order.
      accuracy: ``[A, S]`` final test accuracy per seed (a failed run is 0;
        NaN: not trained yet).
      seeds: the ``S`` final-training seeds.
      drawn_for: the space, platform and specs the set was drawn for (JSON).
      settings: the final-training settings and data sizes (JSON).
    """

    architectures: tuple[str, ...]
    accuracy: np.ndarray
    seeds: tuple[int, ...]
    drawn_for: dict[str, Any]
    settings: dict[str, Any]

    @property
    def complete(self) -> np.ndarray:
        """``[A]`` bool: every seed measured."""
        return ~np.isnan(self.accuracy).any(axis=1)

    def mean(self) -> np.ndarray:
        """``[A]`` seed-mean accuracy of the complete architectures (NaN
        for the others)."""
        out = np.full(len(self.architectures), np.nan)
        ok = self.complete
        out[ok] = self.accuracy[ok].mean(axis=1)
        return out

    def tau(self, scores: Sequence[float]) -> float:
        """Kendall's tau-b of ``scores`` (``[A]``, larger = better; NaN and
        infinite scores skipped) against the seed-mean accuracy."""
        scores = np.asarray(scores, np.float64)
        return kendall_tau(np.where(np.isfinite(scores), scores, np.nan), self.mean())

    def top_hits(self, scores: Sequence[float], fraction: float = 0.1) -> float:
        """Share of the set's top ``fraction`` (by mean accuracy) found in the
        top ``fraction`` by ``scores`` (both over the complete architectures
        with a finite score; at least one architecture each). Items tied at
        the edge of a top share its last places equally, so a constant score
        finds ``fraction`` of the top by chance, not by position."""
        scores = np.asarray(scores, np.float64)
        mean = self.mean()
        ok = np.flatnonzero(~np.isnan(mean) & np.isfinite(scores))
        if ok.size == 0:
            return float("nan")
        k = max(1, int(round(fraction * ok.size)))
        best, picked = _top_share(mean[ok], k), _top_share(scores[ok], k)
        return float(np.sum(best * picked) / k)

    def pick_percentile(self, scores: Sequence[float], k: int) -> float:
        """Expected percentile (0-1) of the best-scored of ``k`` architectures
        drawn at random without replacement from the set's complete ones
        with a finite score: what a screen that trains the top of ``k``
        candidates picks (0.5: no better than chance, 1: always the most
        accurate). An architecture's percentile is the share of the *other*
        architectures whose mean accuracy is below its own (an equal one
        counts half); architectures tied on the score are picked among
        with equal chance. Exact (no sampling): the top of a draw falls
        in a group of tied scores with the chance that the draw holds none
        above the group and at least one of it.

        Raises:
          ValueError: ``k`` outside 1 .. the number of such architectures.
        """
        scores = np.asarray(scores, np.float64)
        mean = self.mean()
        ok = np.flatnonzero(~np.isnan(mean) & np.isfinite(scores))
        n = ok.size
        if not 1 <= k <= n:
            raise ValueError(f"k must be in 1..{n} (the scored set), got {k}")
        acc, score = mean[ok], scores[ok]
        below = (acc[None, :] < acc[:, None]).sum(axis=1)
        equal = (acc[None, :] == acc[:, None]).sum(axis=1) - 1
        pct = (below + 0.5 * equal) / max(n - 1, 1)
        total = math.comb(n, k)
        out, above = 0.0, 0
        for value in np.unique(score)[::-1]:
            group = score == value
            size = int(group.sum())
            # No draw item above the group, at least one inside it.
            chance = (math.comb(n - above, k) - math.comb(n - above - size, k)) / total
            out += chance * float(pct[group].mean())
            above += size
        return out

    def percentile(self, accuracy: float) -> float:
        """Share (0-1) of the complete architectures whose mean accuracy is
        below ``accuracy`` (an equal one counts half)."""
        mean = self.mean()
        mean = mean[~np.isnan(mean)]
        if mean.size == 0 or math.isnan(accuracy):
            return float("nan")
        below = np.count_nonzero(mean < accuracy)
        equal = np.count_nonzero(mean == accuracy)
        return float((below + 0.5 * equal) / mean.size)

    def agreement(
        self,
        scores: Sequence[float],
        macs: Sequence[float],
        fraction: float = 0.1,
        bins: int = 4,
        picks: Sequence[int] = PICKS,
    ) -> dict[str, Any]:
        """How well ``scores`` (``[A]``, larger = better) rank the set.

        Returns:
          ``tau`` (against the mean accuracy), ``top_hits`` (of the top
          ``fraction``), ``tau_within_macs_bins`` (the mean of the taus
          inside ``bins`` equal-count bins of architectures sorted by
          ``macs``: near 0 for a score that ranks only by size) with
          ``tau_by_macs_bin``, ``tau_with_macs`` (the score against
          ``macs``: near 1 for a score that is size in disguise) and
          ``pick_percentile`` (``{k: value}`` for each of ``picks`` that
          the set can draw: :meth:`pick_percentile`).
        """
        scores = np.asarray(scores, np.float64)
        macs = np.asarray(macs, np.float64)
        mean = self.mean()
        ok = np.flatnonzero(~np.isnan(mean) & np.isfinite(scores))
        by_size = ok[np.argsort(macs[ok], kind="stable")]
        per_bin = [
            kendall_tau(scores[part], mean[part])
            for part in np.array_split(by_size, bins)
        ]
        finite = [t for t in per_bin if not math.isnan(t)]
        return {
            "tau": self.tau(scores),
            "top_hits": self.top_hits(scores, fraction),
            "top_fraction": fraction,
            "tau_within_macs_bins": float(np.mean(finite)) if finite else math.nan,
            "tau_by_macs_bin": per_bin,
            "tau_with_macs": kendall_tau(scores[ok], macs[ok]),
            "pick_percentile": {
                str(k): self.pick_percentile(scores, k) for k in picks if k <= ok.size
            },
            "architectures": int(ok.size),
        }

    def runs(self) -> list[dict[str, Any]]:
        """The measured (architecture, seed) accuracies as run records
        (:func:`from_runs`' input; a failed run is an accuracy of 0)."""
        return [
            {
                "architecture": a,
                "seed": seed,
                "test_accuracy": float(self.accuracy[i, j]),
                "failed": False,
            }
            for i, a in enumerate(self.architectures)
            for j, seed in enumerate(self.seeds)
            if not math.isnan(self.accuracy[i, j])
        ]

    def summary(self) -> dict[str, Any]:
        """Size, noise, signal, range and tau between seeds (JSON)."""
        table = self.accuracy[self.complete]
        mean = self.mean()
        noise, signal = seed_noise_signal(table) if len(table) else (math.nan, math.nan)
        s = len(self.seeds)
        return {
            "architectures": len(self.architectures),
            "complete": int(self.complete.sum()),
            "runs": int(np.count_nonzero(~np.isnan(self.accuracy))),
            "seeds": list(self.seeds),
            "noise_std": noise,
            "signal_std": signal,
            "accuracy_range": (
                [float(np.nanmin(mean)), float(np.nanmax(mean))] if len(table) else None
            ),
            "tau_between_seeds": [
                kendall_tau(table[:, a], table[:, b])
                for a in range(s)
                for b in range(a + 1, s)
            ],
        }

    def check_drawn_for(self, drawn_for: dict[str, Any], path: str = "") -> None:
        """Refuse a set drawn for another space, platform or specs.

        Raises:
          ReferenceSetError: naming the first field that differs.
        """
        for key in sorted(set(drawn_for) | set(self.drawn_for)):
            if drawn_for.get(key) != self.drawn_for.get(key):
                raise ReferenceSetError(
                    f"reference set {path or ''} was drawn for another {key} "
                    f"({self.drawn_for.get(key)!r}, not {drawn_for.get(key)!r})"
                )


def _top_share(values: np.ndarray, k: int) -> np.ndarray:
    """``[N]`` membership of each item in the top ``k`` of ``values``: 1 above
    the k-th value, an equal share of the places left for the items equal
    to it, 0 below (the weights sum to k)."""
    kth = np.sort(values)[::-1][k - 1]
    above = values > kth
    equal = values == kth
    return above + equal * ((k - above.sum()) / equal.sum())


def from_runs(
    runs: Sequence[dict[str, Any]],
    architectures: Sequence[str],
    seeds: Sequence[int],
    drawn_for: dict[str, Any],
    settings: dict[str, Any],
) -> ReferenceSet:
    """A set from final-training run records (:mod:`cosearch.final.store`'s:
    ``architecture``, ``seed``, ``test_accuracy``, ``failed``); runs of
    other architectures or seeds are left out."""
    row = {a: i for i, a in enumerate(architectures)}
    col = {int(s): j for j, s in enumerate(seeds)}
    acc = np.full((len(architectures), len(seeds)), np.nan)
    for r in runs:
        i, j = row.get(r["architecture"]), col.get(int(r["seed"]))
        if i is not None and j is not None:
            acc[i, j] = 0.0 if r["failed"] else float(r["test_accuracy"])
    return ReferenceSet(
        tuple(architectures), acc, tuple(int(s) for s in seeds), drawn_for, settings
    )


def to_json(ref: ReferenceSet, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file's content (NaN written as null)."""
    return {
        "format": FORMAT,
        "drawn_for": ref.drawn_for,
        "settings": ref.settings,
        "seeds": list(ref.seeds),
        "summary": json_ready(ref.summary()),
        "architectures": [
            {
                "architecture": a,
                "accuracy": [None if math.isnan(v) else v for v in row.tolist()],
            }
            for a, row in zip(ref.architectures, ref.accuracy, strict=True)
        ],
        **(extra or {}),
    }


def read(path: str) -> ReferenceSet:
    """A reference set from its file.

    Raises:
      ReferenceSetError: missing, unreadable or not a reference set.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ReferenceSetError(f"reference set {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReferenceSetError(f"reference set {path}: cannot read ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReferenceSetError(
            f"reference set {path}: not a reference set (format {FORMAT!r} "
            "expected; made by experiments.reference_set)"
        )
    try:
        rows = data["architectures"]
        acc = np.array(
            [[np.nan if v is None else float(v) for v in r["accuracy"]] for r in rows],
            np.float64,
        ).reshape(len(rows), len(data["seeds"]))
        return ReferenceSet(
            tuple(str(r["architecture"]) for r in rows),
            acc,
            tuple(int(s) for s in data["seeds"]),
            dict(data["drawn_for"]),
            dict(data["settings"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ReferenceSetError(f"reference set {path}: malformed ({e})") from None
