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

import sys

from absl import flags
from ml_collections import config_flags

from cosearch.search import comparison
from cosearch.search.strategies import STRATEGIES
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


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    seeds = parse_seeds(_SEEDS.value)
    unknown = [s for s in _STRATEGIES.value if s not in STRATEGIES]
    if unknown:
        raise common.UsageError(
            f"--strategies: unknown {unknown}; known: {', '.join(STRATEGIES)}"
        )
    try:
        text = comparison.run_strategies(
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
    print(common.compile_line())


if __name__ == "__main__":
    common.run(main)
