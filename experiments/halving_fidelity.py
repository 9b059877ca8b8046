r"""Fixed proxy against successive halving at equal child-training compute,
judged by a reference set, from measured proxy runs (nothing is trained).

  python -m experiments.proxy_fidelity --config=experiments/configs/default.py \
      --num_archs=48 --reference=experiments/results/reference_default.json \
      --seeds=0,1 --eval_steps=10,25,50 --out=runs/proxy_rungs.json
  python -m experiments.halving_fidelity --proxy=runs/proxy_rungs.json \
      --reference=experiments/results/reference_default.json \
      --out=experiments/results/halving_fidelity_cpu.json

Prints and writes two tables (:mod:`experiments.selection`):

- ranking: for the validation accuracy after each measured step count and
  the sum of training losses up to it, Kendall's tau against the reference
  set's mean final test accuracy (one proxy seed, and the seed mean) and the
  top-10% hit rate, with the training images each spends per architecture;
- selection: for budgets of ``--budgets`` proxy children's compute, the
  reference accuracy (mean and spread over ``--draws`` replays), percentile
  and top-10% share of the architecture each rule picks: the fixed proxy,
  successive halving at each rung step count and ``--rates``, by each
  measure, the rung alone, and (with two proxy seeds or more) the fixed
  proxy with its best 2 or 3 trained again with a second seed.

The proxy runs are matched to the reference by architecture; only
architectures the reference holds for every seed count, so the tables grow
with a reference set (run this again after ``experiments.reference_set``
extends it). ``--reference`` may also be an ``experiments.proxy_fidelity``
result with its own final-training reference (e.g.
experiments/results/final_reference_cpu.json).
"""

from __future__ import annotations

import json

import numpy as np
from absl import flags

from cosearch.files.atomic import atomic_write_json
from experiments import common, scoring, selection

_PROXY = flags.DEFINE_list(
    "proxy",
    None,
    "experiments.proxy_fidelity JSON(s): the proxy's runs (with --eval_steps "
    "for part-way rungs) and, optionally, shorter runs (--variants=steps=b) "
    "as rungs trained with their own schedule.",
)
_REFERENCE = flags.DEFINE_string(
    "reference",
    None,
    "A reference set (experiments.reference_set's JSON), or an "
    "experiments.proxy_fidelity result holding a final-training reference.",
)
_BUDGETS = flags.DEFINE_list(
    "budgets", ["3", "5", "10"], "Compute budgets, in proxy children (x B steps)."
)
_RATES = flags.DEFINE_list("rates", ["2", "4"], "Halving rates (eta) replayed.")
_DRAWS = flags.DEFINE_integer("draws", 4000, "Replays per rule and budget.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the replays' draws.")
_OUT = flags.DEFINE_string("out", None, "Write the JSON here.")


def _read_proxy(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise common.UsageError(f"--proxy: no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise common.UsageError(f"--proxy={path}: cannot read ({e})") from None
    results = data.get("proxies") if isinstance(data, dict) else None
    if (
        not results
        or not any(r.get("runs") for r in results)
        or any("steps" not in r.get("train", {}) for r in results)
    ):
        raise common.UsageError(
            f"--proxy={path}: not an experiments.proxy_fidelity result with proxy "
            "runs and their training settings"
        )
    return data


def main(argv):
    common.require(argv, proxy=_PROXY.value, reference=_REFERENCE.value)
    budgets = common.parse_int_list(_BUDGETS.value, "--budgets")
    rates = common.parse_int_list(_RATES.value, "--rates")
    if not budgets or min(budgets) < 1:
        raise common.UsageError(f"--budgets must be >= 1, got {budgets}")
    if not rates or min(rates) < 2:
        raise common.UsageError(f"--rates must be >= 2, got {rates}")
    if _DRAWS.value < 1:
        raise common.UsageError(f"--draws must be >= 1, got {_DRAWS.value}")
    entries = [e for path in _PROXY.value for e in _read_proxy(path)["proxies"]]
    entries = [e for e in entries if e.get("runs")]
    earlier = scoring.read_reference(_REFERENCE.value)
    part = earlier["reference"]
    ref = scoring.as_reference_set(
        part["runs"], earlier["architectures"], part["seeds"], part["train"]
    )
    longest = max(int(e["train"]["steps"]) for e in entries)
    proxies = [e for e in entries if int(e["train"]["steps"]) == longest]
    if len(proxies) != 1:
        raise common.UsageError(
            f"--proxy holds {len(proxies)} runs sets of the longest budget "
            f"({longest} steps); give one proxy and shorter rungs"
        )
    proxy = proxies[0]
    index = {a: i for i, a in enumerate(ref.architectures)}
    measured = {r["arch"] for r in proxy["runs"]}
    unknown = sorted(measured - set(index))
    if len(unknown) == len(measured):
        raise common.UsageError(
            f"--proxy measured no architecture the reference holds "
            f"(e.g. {unknown[0]}): draw both the same way (--arch_seed, --config)"
        )
    if unknown:
        print(
            f"{len(unknown)} proxy architecture(s) not in the reference: left out",
            flush=True,
        )

    def placed(runs):
        return [
            {**r, "arch_index": index[r["arch"]]} for r in runs if r["arch"] in index
        ]

    seeds = sorted({int(r["seed"]) for r in proxy["runs"]})
    values, full = selection.measures(placed(proxy["runs"]), len(index), seeds)
    for e in entries:
        if e is not proxy:
            values.update(
                selection.restart_measures(
                    placed(e["runs"]), len(index), seeds, int(e["train"]["steps"])
                )
            )
    batch = int(proxy["train"]["batch_size"])
    mean = ref.mean()
    measured = ~np.isnan(values[f"accuracy@{full}"]).any(axis=1)
    pool = np.flatnonzero(~np.isnan(mean) & measured)
    if len(pool) < 4:
        raise common.UsageError(
            f"only {len(pool)} architecture(s) are both in the reference set "
            "(complete) and in the proxy runs; need at least 4"
        )
    ranks = selection.ranking(values, ref, batch)
    steps = sorted({v["steps"] for v in ranks.values()})
    rungs = [b for b in steps if b < full]
    rules = [selection.Rule("proxy", full)]
    if len(seeds) >= 2:  # the proxy's noise spent on the best few
        rules += [selection.Rule("reseed", full, rate=r) for r in (2, 3)]
    for b in rungs:
        for name in ranks:
            m, at = name.split("@")
            if int(at) == b:
                rules += [selection.Rule("halving", b, m, eta) for eta in rates]
                rules.append(selection.Rule("rung", b, m))
    rng = np.random.default_rng(_SEED.value)
    replays = []
    print(
        f"{len(pool)} architectures in the pool ({len(seeds)} proxy seeds, proxy "
        f"{full} steps); {len(rules)} rules x {len(budgets)} budgets x "
        f"{_DRAWS.value} draws",
        flush=True,
    )
    print(f"{'ranking':<22} {'images/arch':>11} {'tau(1 seed)':>11} {'top10%':>7}")
    for name, r in ranks.items():
        print(
            f"{name:<22} {r['images_per_architecture']:>11,} "
            f"{r['tau_one_seed']:>+11.2f} {r['top10_hits_one_seed']:>7.2f}"
        )
    for children in budgets:
        budget = children * full
        print(f"budget {children} proxy children ({budget * batch:,} images):")
        for rule in rules:
            got = selection.replay(
                rule, budget, values, full, mean, pool, _DRAWS.value, rng
            )
            if got is None:
                continue
            replays.append({**got, "budget_children": children})
            print(
                f"  {got['rule']:<28} trains {got['trained_first']:>2}"
                f"{'*' if got['capped'] else ' '} picks "
                f"{100 * got['accuracy_mean']:.2f}% +- "
                f"{100 * got['accuracy_std']:.2f}, percentile "
                f"{100 * got['percentile_mean']:.0f}, top-10% "
                f"{got['top10_share']:.2f}",
                flush=True,
            )
    out = {
        "what": "fixed proxy against successive halving at equal compute, "
        "replayed from measured proxy runs, judged by a reference set",
        "proxy": list(_PROXY.value),
        "reference": _REFERENCE.value,
        "reference_summary": ref.summary(),
        "pool": [ref.architectures[i] for i in pool],
        "proxy_steps": full,
        "proxy_seeds": seeds,
        "batch_size": batch,
        "ranking": ranks,
        "selection": replays,
        "seed": _SEED.value,
    }
    if _OUT.value:
        atomic_write_json(_OUT.value, out)
        print(f"written to {_OUT.value}", flush=True)


if __name__ == "__main__":
    common.run(main, compile_cache=False)
