r"""Run every search strategy on the same config and budget, over seeds; compare.

  python -m experiments.compare --config=experiments/configs/default.py \
      --seeds=0,1,2 --workdir=/tmp/cosearch_compare

Each (seed, strategy) runs in --workdir/seed<N>/<strategy> (resumable like a
search: run the same command again to continue). Give every strategy the
same trained-children budget (``--config.search.max_children``; the default
config has one). --workdir gets comparison.md (mean and spread over seeds,
then seed by seed), comparison.json, comparison.png (the fronts of the first
seed) and best_so_far.png (best accuracy at spec against children trained).
"""

from __future__ import annotations

import os
import sys

from absl import flags
from ml_collections import config_flags

from cosearch import comparison, search
from cosearch.components import STRATEGIES
from cosearch.metrics import read_jsonl
from experiments import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (':smoke' for the smoke variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder of the comparison.")
_STRATEGIES = flags.DEFINE_list(
    "strategies", list(STRATEGIES), "Strategies to run, in order."
)
_SEEDS = flags.DEFINE_list(
    "seeds", [], "Seeds to run every strategy with (default: the config's seed)."
)
_FRESH = flags.DEFINE_bool("fresh", False, "Discard earlier runs in --workdir.")


def parse_seeds(values) -> list[int]:
    """``["0", "1"]`` -> ``[0, 1]``; refuses repeats and non-integers."""
    seeds = common.parse_int_list(values, "--seeds")
    if len(set(seeds)) != len(seeds):
        raise common.UsageError(f"--seeds: repeated seed in {values}")
    return seeds


def compare(config, workdir: str, strategies, seeds=None, fresh=False, log=print):
    """Run ``strategies`` for each seed of ``seeds`` (default: the config's);
    write the comparison files. Returns the text of comparison.md."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise common.UsageError(
            f"--strategies: unknown {unknown}; known: {', '.join(STRATEGIES)}"
        )
    seeds = list(seeds) if seeds else [int(config.seed)]
    runs: dict[str, dict[int, tuple[list, list]]] = {name: {} for name in strategies}
    for seed in seeds:
        for name in strategies:
            cfg = config.copy_and_resolve_references()
            cfg.strategy = name
            cfg.seed = seed
            sub = os.path.join(workdir, f"seed{seed}", name)
            log(f"== seed {seed}, {name} -> {sub}")
            search.run(cfg, sub, fresh=fresh, log=log)
            runs[name][seed] = (
                read_jsonl(os.path.join(sub, "history.jsonl")),
                read_jsonl(os.path.join(sub, "metrics.jsonl")),
            )
    s = config.search
    settings = {
        "strategies": ", ".join(strategies),
        "budget": (
            f"max_children={s.max_children}, episodes={s.episodes or 'no limit'}, "
            f"max_wall_s={s.max_wall_s or 'no limit'}"
        ),
        "candidates per episode (coexplore, random)": s.candidates_per_episode,
        "children per episode": s.children_per_episode,
        "platform": config.platform.name,
        "specs": ", ".join(f"{k}={v}" for k, v in config.specs.items()),
        "data": config.data.name,
        "depth": config.space.depth,
    }
    return comparison.write(
        workdir,
        runs,
        settings,
        float(config.search.opt_hw_margin),
        objective=config.reward.objective,
    )


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    seeds = parse_seeds(_SEEDS.value)
    try:
        text = compare(
            _CONFIG.value,
            _WORKDIR.value,
            _STRATEGIES.value,
            seeds,
            _FRESH.value,
            log=lambda message: print(message, flush=True),
        )
    except KeyboardInterrupt:
        print("interrupted; run the same command to resume", file=sys.stderr)
        sys.exit(130)
    print(text)


if __name__ == "__main__":
    common.run(main)
