r"""Run every search strategy on the same config, seed and budget; compare.

  python -m experiments.compare --config=experiments/configs/default.py \
      --workdir=/tmp/cosearch_compare

Each strategy runs in --workdir/<strategy> (resumable like a search);
--workdir gets comparison.md (table) and comparison.png (all fronts).
"""

from __future__ import annotations

import os
import sys

from absl import flags
from ml_collections import config_flags

from cosearch import report, search
from cosearch.components import STRATEGIES
from cosearch.fileio import atomic_write_text
from cosearch.metrics import read_jsonl
from experiments import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (':smoke' for the smoke variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder of the comparison.")
_STRATEGIES = flags.DEFINE_list(
    "strategies", list(STRATEGIES), "Strategies to run, in order."
)
_FRESH = flags.DEFINE_bool("fresh", False, "Discard earlier runs in --workdir.")


def compare(config, workdir: str, strategies, fresh: bool = False, log=print):
    """Run ``strategies`` on ``config``; write comparison.md and .png.

    Returns:
      The text of comparison.md.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise common.UsageError(
            f"--strategies: unknown {unknown}; known: {', '.join(STRATEGIES)}"
        )
    runs = []
    for name in strategies:
        cfg = config.copy_and_resolve_references()
        cfg.strategy = name
        sub = os.path.join(workdir, name)
        log(f"== {name} -> {sub}")
        search.run(cfg, sub, fresh=fresh, log=log)
        history = read_jsonl(os.path.join(sub, "history.jsonl"))
        metrics = read_jsonl(os.path.join(sub, "metrics.jsonl"))
        facts = {
            "wall_s": sum(m["fast_s"] + m["slow_s"] + m["update_s"] for m in metrics),
            "children_trained": metrics[-1]["children_trained_total"] if metrics else 0,
        }
        runs.append((name, history, facts))
    margin = float(config.search.opt_hw_margin)
    text = report.comparison_markdown(runs, margin=margin)
    atomic_write_text(os.path.join(workdir, "comparison.md"), text)
    report.save_plot(
        os.path.join(workdir, "comparison.png"),
        [(name, history) for name, history, _ in runs],
        "strategies: accuracy vs hardware efficiency",
    )
    return text


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    try:
        text = compare(
            _CONFIG.value,
            _WORKDIR.value,
            _STRATEGIES.value,
            _FRESH.value,
            log=lambda message: print(message, flush=True),
        )
    except KeyboardInterrupt:
        print("interrupted; run the same command to resume", file=sys.stderr)
        sys.exit(130)
    print(text)


if __name__ == "__main__":
    common.run(main)
