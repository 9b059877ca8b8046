"""What a proxy's runs measure against a reference (experiments.proxy_fidelity):
the accuracy table of the runs, noise, signal and taus of a proxy, and how
part-way measures of the same runs (accuracy after fewer steps, sums of
training losses) rank."""

from __future__ import annotations

from typing import Any

import numpy as np

from cosearch.results.stats import kendall_tau, seed_noise_signal


def accuracy_table(runs, num_archs: int, seeds) -> np.ndarray:
    """``[A, S]`` validation accuracy (a failed run counts as 0)."""
    table = np.full((num_archs, len(seeds)), np.nan)
    col = {int(s): j for j, s in enumerate(seeds)}
    for r in runs:
        table[r["arch_index"], col[r["seed"]]] = r["val_accuracy"]
    return table


def early_signals(proxy_runs, ref_table: np.ndarray, seeds) -> dict[str, Any]:
    """How well part-way measures of the same runs rank against the
    reference: the validation accuracy after each ``early`` step, and the sum
    of training losses up to it (and over the whole run; lower is better, Ru
    et al., arXiv 2006.04492), each as the tau of the seed mean and of each
    seed; with the steps (compute) each spends per architecture."""
    ref_mean = ref_table.mean(axis=1)
    steps = sorted({s for r in proxy_runs for s, _ in r.get("early", [])})
    full = max(
        (len(r["loss_curve"]) for r in proxy_runs if "loss_curve" in r), default=0
    )

    def taus(values: dict[tuple[int, int], float]) -> dict[str, Any]:
        table = np.full((ref_table.shape[0], len(seeds)), np.nan)
        col = {int(s): j for j, s in enumerate(seeds)}
        for (a, s), v in values.items():
            table[a, col[s]] = v
        return {
            "tau_mean_vs_reference": kendall_tau(table.mean(axis=1), ref_mean),
            "tau_seed_vs_reference": [
                kendall_tau(table[:, j], ref_mean) for j in range(table.shape[1])
            ],
        }

    out = {}
    for step in [*steps, full]:
        acc, loss = {}, {}
        for r in proxy_runs:
            key = (r["arch_index"], r["seed"])
            curve = r.get("loss_curve") or []
            if len(curve) >= step:
                loss[key] = -float(np.sum(curve[:step]))
            early = dict((int(s), a) for s, a in r.get("early", []))
            if step in early:
                acc[key] = early[step]
            elif step == full:
                acc[key] = r["val_accuracy"]
        out[str(step)] = {
            "steps": step,
            "accuracy": taus(acc) if acc else None,
            "loss_sum": taus(loss) if loss else None,
        }
    return out


def summarize(proxy_runs, ref_table: np.ndarray, seeds) -> dict[str, Any]:
    """Noise, signal, taus and timing of one proxy against the reference."""
    table = accuracy_table(proxy_runs, ref_table.shape[0], seeds)
    noise, signal = seed_noise_signal(table)
    ref_mean = ref_table.mean(axis=1)
    mean = table.mean(axis=1)
    per_seed = [kendall_tau(table[:, j], ref_mean) for j in range(table.shape[1])]
    between = [
        kendall_tau(table[:, a], table[:, b])
        for a in range(table.shape[1])
        for b in range(a + 1, table.shape[1])
    ]
    # compile_s is None in runs rebuilt from logs (timing unknown).
    warm = [r["wall_s"] for r in proxy_runs if r.get("compile_s") == 0.0]
    compiles = [r["compile_s"] for r in proxy_runs if (r.get("compile_s") or 0.0) > 0]
    return {
        "noise_std": noise,
        "signal_std": signal,
        "snr": signal / noise if noise > 0 else None,
        "accuracy_range": [float(np.nanmin(mean)), float(np.nanmax(mean))],
        "tau_mean_vs_reference": kendall_tau(mean, ref_mean),
        "tau_seed_vs_reference": per_seed,
        "tau_between_seeds": between,
        "best_proxy_rank_in_reference": int(
            1 + np.sum(ref_mean > ref_mean[int(np.nanargmax(mean))])
        ),
        "failed": sum(r["failed"] for r in proxy_runs),
        "final_loss_above_chance": sum(r["above_chance"] for r in proxy_runs),
        "runs": len(proxy_runs),
        "median_child_s": float(np.median(warm)) if warm else None,
        "median_compile_s": float(np.median(compiles)) if compiles else None,
        "by_steps": early_signals(proxy_runs, ref_table, seeds),
    }
