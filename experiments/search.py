r"""Run (or resume) a search.

  python -m experiments.search --config=experiments/configs/default.py \
      --workdir=/tmp/cosearch_default [--config.search.episodes=20] [--fresh]

A run found in --workdir is resumed where its last checkpoint left it;
--fresh discards it. Ctrl-C saves and exits; the same command resumes.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from cosearch import search
from experiments import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (':smoke' for the smoke variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder of the run.")
_FRESH = flags.DEFINE_bool(
    "fresh", False, "Discard a previous run in --workdir instead of resuming it."
)


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    try:
        summary = search.run(
            _CONFIG.value,
            _WORKDIR.value,
            fresh=_FRESH.value,
            log=lambda message: print(message, flush=True),
        )
    except KeyboardInterrupt:
        print("interrupted; run the same command to resume", file=sys.stderr)
        sys.exit(130)
    best = summary.opt_sw
    if best is None:
        print("no architecture met the specs")
    else:
        print(
            f"OptSW {best['architecture']}: accuracy {100 * best['accuracy']:.2f}%, "
            f"{best['throughput_fps']:,.1f} images/s, {best['gops_per_w']:.2f} GOPS/W"
        )
    print(f"results: {_WORKDIR.value}/report.md")


if __name__ == "__main__":
    common.run(main)
