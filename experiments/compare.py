r"""Run every search strategy on the same config and budget, over seeds; compare.

  python -m experiments.compare --config=experiments/configs/default.py \
      --seeds=0,1,2 --workdir=/tmp/cosearch_compare

Each (seed, strategy) runs in --workdir/seed<N>/<strategy> (resumable like a
search: run the same command again to continue). Give every strategy the
same budget (``--config.search.max_children``, the default config's, or
``--config.search.max_train_images`` for equal child-training compute), or
one strategy another with ``--overrides``, e.g.
``--overrides='hw_aware:search.max_train_images=192000'``; each run's compute
is in comparison.md. With ``--archive=DIR`` each finished run's results
(no checkpoints, no weights) are also kept in DIR/seed<N>/<strategy>, and
a run found finished there is read instead of run; a run stopped with
Ctrl-C is kept there whole (checkpoints and weights) and resumed from it:
commit DIR, and the same command on a fresh clone goes on where the
comparison stopped.
After every run (seed by seed), --workdir gets
comparison.md (mean and spread over seeds,
then seed by seed), comparison.json, comparison.png (the fronts of the first
seed) and best_so_far.png (best accuracy at spec against children trained).
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from absl import flags
from ml_collections import config_flags

from cosearch.search import strategy_runs
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
_ARCHIVE = flags.DEFINE_string(
    "archive",
    None,
    "Folder that keeps each finished run's results without its checkpoints "
    "and weights (seed<N>/<strategy>); runs found finished there are read, "
    "not run again (a comparison goes on from it on another machine).",
)
_OVERRIDES = flags.DEFINE_string(
    "overrides",
    "",
    "Per-strategy config changes, ';'-separated 'strategy:field=value,...' "
    "(e.g. 'hw_aware:search.max_train_images=192000'): a strategy given more "
    "or less of a budget than the others.",
)


def parse_overrides(text: str, config, strategies) -> dict[str, dict[str, Any]]:
    """``'hw_aware:search.max_train_images=192000;random:search.rung_steps=()'``
    -> ``{strategy: {field: value}}``, each field an existing config field
    and each value a Python literal (else a string)."""
    out: dict[str, dict[str, Any]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, fields = part.partition(":")
        if not sep or name not in strategies:
            raise common.UsageError(
                f"--overrides: {part!r} must start with one of the compared "
                f"strategies ({', '.join(strategies)}) and ':'"
            )
        for item in filter(None, (f.strip() for f in fields.split(","))):
            field, eq, raw = item.partition("=")
            node = config
            *parents, leaf = field.split(".")
            for key in parents:
                node = node.get(key) if hasattr(node, "get") else None
            if not eq or node is None or leaf not in node:
                raise common.UsageError(
                    f"--overrides: {item!r} is not 'field=value' of a config field"
                )
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
            out.setdefault(name, {})[field] = value
    return out


def _adjuster(overrides: dict[str, dict[str, Any]]):
    def adjust(cfg, strategy: str) -> None:
        for field, value in overrides.get(strategy, {}).items():
            node = cfg
            *parents, leaf = field.split(".")
            for key in parents:
                node = node[key]
            node[leaf] = value

    return adjust


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
    overrides = parse_overrides(_OVERRIDES.value, _CONFIG.value, _STRATEGIES.value)
    try:
        text = strategy_runs.run_strategies(
            _CONFIG.value,
            _WORKDIR.value,
            _STRATEGIES.value,
            seeds,
            _FRESH.value,
            log=lambda message: print(message, flush=True),
            adjust=_adjuster(overrides),
            notes={"overrides": _OVERRIDES.value} if overrides else None,
            archive=_ARCHIVE.value,
        )
    except KeyboardInterrupt:
        print("interrupted; run the same command to resume", file=sys.stderr)
        sys.exit(130)
    print(text)
    print(common.compile_line())


if __name__ == "__main__":
    common.run(main)
