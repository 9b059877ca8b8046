r"""Final-train the designs of a finished (or older) search, score them on
the test split, and rewrite its results with their final accuracies.

  python -m experiments.finalize --workdir=runs/default [--max_designs=6] \
      [--seeds=3] [--steps=2000]

A search runs its final phase itself (``config.final``: OptSW and OptHW by
default); this finalizes more of its Pareto front, with other settings, or a
run made before final training existed. Runs already trained with the same
settings are reused (resumable: Ctrl-C, then the same command), so raising
--max_designs trains only the new architectures. The trained weights stay in
--workdir/final/weights (orbax), one folder per architecture and seed.
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

from cosearch.final import phase
from cosearch.search import setup as search_setup
from cosearch.search.run_state import RUN_INFO_FILE
from cosearch.search.stepping import shared_trainer
from cosearch.search.workdir import WorkdirLock
from experiments import common

_WORKDIR = flags.DEFINE_string("workdir", None, "A search's output folder.")
_MAX_DESIGNS = flags.DEFINE_integer(
    "max_designs",
    None,
    "Distinct architectures to finalize: OptSW, OptHW, then the Pareto front "
    "(default: the run's final.max_designs).",
)
_SEEDS = flags.DEFINE_integer(
    "seeds", None, "Final-training seeds (default: the run's)."
)
_STEPS = flags.DEFINE_integer(
    "steps", None, "Final-training steps (default: the run's)."
)


def main(argv):
    common.require(argv, workdir=_WORKDIR.value)
    workdir = os.path.abspath(_WORKDIR.value)
    config = common.run_config(workdir)
    for flag, field in ((_SEEDS, "seeds"), (_STEPS, "steps")):
        if flag.value is not None:
            config.final[field] = flag.value
    if _MAX_DESIGNS.value is not None and _MAX_DESIGNS.value < 1:
        raise common.UsageError(f"--max_designs must be >= 1, got {_MAX_DESIGNS.value}")
    if not os.path.isfile(os.path.join(workdir, "history.jsonl")):
        raise common.UsageError(
            f"--workdir={workdir}: no history.jsonl (no search ran)"
        )
    if _MAX_DESIGNS.value is None and int(config.final.max_designs) < 1:
        raise common.UsageError(
            "the run's final.max_designs is 0 (final training was off): pass "
            "--max_designs=N"
        )
    if _MAX_DESIGNS.value is not None:
        config.final.max_designs = _MAX_DESIGNS.value
    setup = search_setup.build(config)
    info_path = os.path.join(workdir, RUN_INFO_FILE)
    info = {"strategy": setup.strategy, "data": setup.dataset.name}
    if os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
    with WorkdirLock(workdir):
        try:
            summary = phase.run_final(
                setup,
                workdir,
                info,
                shared_trainer(),
                log=lambda message: print(message, flush=True),
                max_designs=_MAX_DESIGNS.value,
            )
        except KeyboardInterrupt:
            print("interrupted; run the same command to resume", file=sys.stderr)
            sys.exit(130)
    common.print_best(summary)
    print(f"results: {workdir}/report.md")
    print(common.compile_line())


if __name__ == "__main__":
    common.run(main)
