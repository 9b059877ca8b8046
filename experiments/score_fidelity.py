r"""How well do training-free scores rank a space? Each score against a
reference set's final test accuracies.

  python -m experiments.score_fidelity --config=experiments/configs/default.py \
      --reference=experiments/results/reference_default.json \
      --out=experiments/results/score_fidelity_cpu.json

For each score of ``--scores`` (:data:`cosearch.child.scores.SCORES`; all by
default), computed batched for every architecture of the reference set
(training images only, one initialisation per architecture from
``--key_seed``): Kendall's tau against the set's seed-mean final accuracy,
the share of the set's top 10% that the score's top 10% finds, the tau
inside equal-count bins of MACs (a score that ranks only by size has
~0 there) and its tau with MACs, the expected percentile of the
best-scored of 8 and of 16 random architectures (``pick_percentile``: what
a screen training its best-scored survivor gets; 0.5 is chance), and the
time it takes: the first
(compiling) pass over the set, and milliseconds per architecture of a
second, warm pass over one chunk. A reference set of another space,
platform or specs is refused. ``--combine=a+b,...`` measures joined
scores too, standardised and averaged as ``search.accuracy_signal`` joins
them (the parts must be among ``--scores``).

A reference set grows while its runs train; ``--reuse`` takes the scores
(and their timings) of an earlier run of this launcher on the same set,
images and key, so that only the agreement is computed again:

  python -m experiments.score_fidelity ... --reuse=OLD.json --out=NEW.json
"""

from __future__ import annotations

import jax
from absl import flags
from ml_collections import config_flags

from cosearch.child import scores as scores_lib
from cosearch.files.atomic import json_ready
from cosearch.final import reference
from cosearch.hardware.architecture import Architecture
from cosearch.policy import signal as signal_lib
from cosearch.search import setup as search_setup
from experiments import common
from experiments.scoring import combined, measure, print_table, reused_scores, table

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (its space, specs, data)."
)
_REFERENCE = flags.DEFINE_string(
    "reference", None, "A reference set (experiments.reference_set's JSON)."
)
_SCORES = flags.DEFINE_list(
    "scores", list(scores_lib.SCORES), "Training-free scores to measure."
)
_COMBINE = flags.DEFINE_list(
    "combine",
    [],
    "Joined scores to measure too, each 'a+b' as search.accuracy_signal "
    "joins them (mean of standardised values; every part in --scores).",
)
_IMAGES = flags.DEFINE_integer("images", 32, "Training images per network score.")
_KEY_SEED = flags.DEFINE_integer("key_seed", 0, "Seed of images and initialisations.")
_CHUNK = flags.DEFINE_integer("chunk", 16, "Networks per compiled batch.")
_OUT = flags.DEFINE_string("out", None, "Write the JSON here.")
_REUSE = flags.DEFINE_string(
    "reuse",
    None,
    "An earlier JSON of this launcher on the same set, --images and "
    "--key_seed: its scores are reused (timings included), not computed again.",
)


def main(argv):
    common.require(argv, config=_CONFIG.value, reference=_REFERENCE.value)
    with common.flag_value("--scores"):
        names = scores_lib.check_names(_SCORES.value)
    with common.flag_value("--combine"):
        for name in _COMBINE.value:
            if "+" not in name:
                raise ValueError(f"{name!r} joins no scores (write 'a+b')")
            missing = [p for p in signal_lib.parse(name) if p not in names]
            if missing:
                raise ValueError(f"{name!r} needs {', '.join(missing)} in --scores")
    if _IMAGES.value < 2:
        raise common.UsageError(f"--images must be >= 2, got {_IMAGES.value}")
    if _CHUNK.value < 1:
        raise common.UsageError(f"--chunk must be >= 1, got {_CHUNK.value}")
    setup = search_setup.build(_CONFIG.value)
    ref = reference.read(_REFERENCE.value)
    ref.check_drawn_for(setup.drawn_for(), _REFERENCE.value)
    complete = [a for a, ok in zip(ref.architectures, ref.complete, strict=True) if ok]
    if len(complete) < 2:
        raise common.UsageError(
            f"--reference={_REFERENCE.value}: {len(complete)} architecture(s) have "
            "every seed measured; at least 2 are needed"
        )
    archs = [Architecture.parse(a) for a in ref.architectures]
    arch = setup.space.arch
    print(
        f"scoring {len(archs)} architectures ({len(complete)} complete) with "
        f"{', '.join(names)} on {_IMAGES.value} training images",
        flush=True,
    )
    values, timing = {}, {}
    if _REUSE.value:
        values, timing = reused_scores(
            _REUSE.value, ref.architectures, names, _IMAGES.value, _KEY_SEED.value
        )
        if values:
            print(f"reusing {', '.join(values)} from {_REUSE.value}", flush=True)
    todo = [n for n in names if n not in values]
    if todo:
        new_values, new_timing = measure(
            archs,
            setup.dataset,
            todo,
            _IMAGES.value,
            jax.random.key(_KEY_SEED.value),
            _CHUNK.value,
            max(arch.kernels),
            max(arch.filters),
            setup.train_config.head,
        )
        values.update(new_values)
        timing.update(new_timing)
    values = {n: values[n] for n in names}
    joined = {}
    for name in _COMBINE.value:
        joined[name], parts = combined(values, name)
        timing[name] = {
            "ms_per_arch": sum(timing[p]["ms_per_arch"] for p in parts),
            "first_pass_s": sum(timing[p]["first_pass_s"] for p in parts),
            "kind": "joined",
        }
    rows = table(ref, {**values, **joined}, timing, setup.input_shape)
    print_table(rows)
    out = {
        "what": "training-free scores against a reference set",
        "reference": {"path": _REFERENCE.value, **ref.summary()},
        "images": _IMAGES.value,
        "key_seed": _KEY_SEED.value,
        "chunk": _CHUNK.value,
        "training_free": rows,
        "values": {
            name: dict(zip(ref.architectures, map(float, v), strict=True))
            for name, v in values.items()
        },
        "environment": common.environment(),
    }
    common.write_benchmark(json_ready(out), _OUT.value)


if __name__ == "__main__":
    common.run(main)
