r"""Run (or resume) a search.

  python -m experiments.search --config=experiments/configs/default.py \
      --workdir=/tmp/cosearch_default [--config.search.episodes=20] [--fresh]

A run found in --workdir is resumed where its last checkpoint left it;
--fresh discards it. Ctrl-C saves and exits; the same command resumes.

Children train on every local device (``--config.parallel.devices``). Several
processes (hosts), the same command on each:

  python -m experiments.search ... --coordinator_address=host0:12345 \
      --num_processes=2 --process_id=0        # and --process_id=1 elsewhere

or ``--distributed`` alone where JAX detects the cluster (SLURM, Open MPI,
Kubernetes, Cloud TPU). Process 0 writes --workdir.
"""

from __future__ import annotations

import os
import sys

import jax
from absl import flags
from ml_collections import config_flags

from cosearch.runtime import coordination
from cosearch.search import loop as search
from experiments import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (':smoke' for the smoke variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder of the run.")
_FRESH = flags.DEFINE_bool(
    "fresh", False, "Discard a previous run in --workdir instead of resuming it."
)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address",
    "",
    "host:port of process 0 of a multi-process run (needs --num_processes and "
    "--process_id).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in a multi-process run."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index in a multi-process run (0 writes)."
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "Join a multi-process run; without --coordinator_address JAX detects the "
    "cluster (SLURM, Open MPI, Kubernetes, Cloud TPU).",
)
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s",
    100,
    "Seconds without a heartbeat after which a process counts as lost.",
)


def _join() -> None:
    """Join the multi-process runtime when the flags ask for it."""
    wanted = _DISTRIBUTED.value or _COORDINATOR.value
    wanted = wanted or (_NUM_PROCESSES.value or 1) > 1
    if not wanted:
        return
    if not _COORDINATOR.value and (_NUM_PROCESSES.value or 1) > 1:
        if not _DISTRIBUTED.value:
            raise common.UsageError(
                "--num_processes > 1 needs --coordinator_address (or --distributed "
                "on a cluster JAX detects)"
            )
    coordination.initialize(
        _COORDINATOR.value,
        _NUM_PROCESSES.value,
        _PROCESS_ID.value,
        heartbeat_timeout_s=_HEARTBEAT.value,
    )


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    _join()
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
    except coordination.DistributedError as e:
        # Exit at once: JAX's exit handler would wait for (or abort on) the
        # lost process.
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(3)
    if summary is None:  # not process 0: it writes the results
        print(f"process {jax.process_index()}: done; results in {_WORKDIR.value}")
        return
    common.print_best(summary)
    print(f"results: {_WORKDIR.value}/report.md")
    print(common.compile_line())


if __name__ == "__main__":
    common.run(main)
