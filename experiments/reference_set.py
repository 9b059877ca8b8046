r"""Build (or extend) a reference set: final test accuracies of many
architectures of a config's space, the ground truth of ranking signals.

  python -m experiments.reference_set --config=experiments/configs/default.py \
      --workdir=runs/reference --num_archs=48 \
      --out=experiments/results/reference_default.json

Draws ``--num_archs`` distinct architectures uniformly from the config's
space, keeping those some design makes meet its specs (the ones a search
would train; the same draw as ``experiments.proxy_fidelity`` with the same
``--arch_seed``, so a larger ``--num_archs`` extends a set by architectures
drawn after its own), and trains each with the config's final training
(``config.final``: training and validation images, scored on the test
split) over ``--seeds`` seeds. Every finished run is kept in
``--workdir/final/`` (records and weights) and ``--out`` is rewritten after
every run, so it is current however the command ends; the runs ``--out``
already holds are not trained again (with this ``--workdir`` or a fresh
one), so the command resumes where it stopped (Ctrl-C, then the same
command) and a larger ``--num_archs`` extends the set. One line per
finished run, with an ETA.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags
from ml_collections import config_flags

from cosearch.files.atomic import atomic_write_json
from cosearch.final import reference
from cosearch.final.runner import finalize, settings_record
from cosearch.final.store import FinalStore, fingerprint
from cosearch.search import setup as search_setup
from cosearch.search.stepping import shared_trainer
from cosearch.search.workdir import WorkdirLock, check_workdir
from experiments import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (its space, specs, data, final)."
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Folder of the runs and their weights (resumable)."
)
_NUM_ARCHS = flags.DEFINE_integer("num_archs", 48, "Architectures in the set.")
_ARCH_SEED = flags.DEFINE_integer("arch_seed", 123, "Seed of the architecture draw.")
_SEEDS = flags.DEFINE_integer(
    "seeds", None, "Final-training seeds per architecture (default: config.final)."
)
_OUT = flags.DEFINE_string(
    "out", None, "The reference set's JSON (default: --workdir/reference_set.json)."
)


def main(argv):
    common.require(argv, config=_CONFIG.value, workdir=_WORKDIR.value)
    if _NUM_ARCHS.value < 2:
        raise common.UsageError(f"--num_archs must be >= 2, got {_NUM_ARCHS.value}")
    setup = search_setup.build(_CONFIG.value)
    final = setup.final
    if _SEEDS.value is not None:
        with common.flag_value("--seeds"):
            final = dataclasses.replace(final, seeds=_SEEDS.value)
    workdir = os.path.abspath(_WORKDIR.value)
    out = _OUT.value or os.path.join(workdir, "reference_set.json")
    valid_for = setup.drawn_for()
    settings = settings_record(final, setup.dataset)
    seeds = list(range(final.seeds))
    earlier = None
    if os.path.exists(out):
        earlier = reference.read(out)
        earlier.check_drawn_for(valid_for, out)
        if fingerprint(earlier.settings) != fingerprint(settings):
            raise common.UsageError(
                f"--out={out} holds a set trained with other final settings; "
                "choose another --out"
            )
        if list(earlier.seeds) != seeds:
            raise common.UsageError(
                f"--out={out} holds a set of {len(earlier.seeds)} seeds, not "
                f"{len(seeds)}; choose another --out"
            )
        if _NUM_ARCHS.value < len(earlier.architectures):
            raise common.UsageError(
                f"--num_archs={_NUM_ARCHS.value} is smaller than the "
                f"{len(earlier.architectures)} architectures of --out={out}"
            )
    print(
        f"drawing {_NUM_ARCHS.value} architectures that meet the specs "
        f"({setup.spec_text()} on {setup.platform.name})",
        flush=True,
    )
    archs = [
        str(a)
        for a in common.draw_architectures(
            setup, _NUM_ARCHS.value, _ARCH_SEED.value, feasible_only=True
        )
    ]
    if earlier is not None:
        have = list(earlier.architectures)
        if archs[: len(have)] != have:
            raise common.UsageError(
                f"--out={out} holds other architectures (another --arch_seed?); "
                "choose another --out"
            )
    check_workdir(workdir)
    store = FinalStore(workdir)
    settings_id = fingerprint(settings)
    # The set's file is the record of what is measured: its runs count as
    # done whatever --workdir holds (a fresh workdir trains only the rest).
    kept = [] if earlier is None else earlier.runs()

    def write() -> None:
        ref = reference.from_runs(
            [*kept, *store.runs(settings_id)], archs, seeds, valid_for, settings
        )
        extra = {"draw": {"arch_seed": _ARCH_SEED.value, "feasible_only": True}}
        atomic_write_json(out, reference.to_json(ref, extra))

    with WorkdirLock(workdir):
        designs = [("reference", {"architecture": a}) for a in archs]
        done = {(r["architecture"], r["seed"]) for r in kept}
        finalize(
            final, setup.dataset, store, designs, shared_trainer(), print, write, done
        )
        write()
    summary = reference.read(out).summary()
    rng = summary["accuracy_range"]
    print(
        f"reference set: {summary['complete']}/{summary['architectures']} "
        f"architectures x {len(seeds)} seeds; range "
        + (f"{100 * rng[0]:.2f}-{100 * rng[1]:.2f}%" if rng else "-")
        + "; tau between seeds "
        + (", ".join(f"{t:+.2f}" for t in summary["tau_between_seeds"]) or "-")
        + f"; written to {out}",
        flush=True,
    )


if __name__ == "__main__":
    common.run(main)
