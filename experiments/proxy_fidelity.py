r"""How well does the search's proxy training rank architectures?

Trains a fixed set of architectures of a config's space (by default only
those the fast level keeps under the config's specs: the ones a search
would train) with the config's child-training budget (the *proxy*, scored
on the validation split) over several seeds, and with the config's *final*
training (``config.final``: training and validation images, scored on the
test split; the reference) over several seeds, then reports:

- noise: the pooled seed-to-seed standard deviation of an architecture's
  accuracy;
- signal: the standard deviation across architectures of the seed-mean
  accuracy; ``snr`` = signal / noise;
- Kendall's tau between the proxy's ranking (seed mean, and each seed) and
  the reference's, between proxy seeds and between reference seeds;
- failures and runs whose last training loss is above chance (ln classes);
- seconds per child (compile apart).

    python -m experiments.proxy_fidelity --config=experiments/configs/default.py \
        --out=/tmp/fidelity.json
    # the final training alone (no proxy), e.g. on a GPU:
    python -m experiments.proxy_fidelity --config=experiments/configs/default.py \
        --seeds= --out=/tmp/reference.json
    # proxy variants against a reference measured before:
    python -m experiments.proxy_fidelity --config=experiments/configs/default.py \
        --reference=/tmp/reference.json \
        --variants='learning_rate=0.02;learning_rate=0.005,warmup_steps=5' \
        --out=/tmp/variants.json

A variant is a list of ``field=value`` overrides of ``config.train``; each
is measured as a proxy against the same reference.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from cosearch.child import scores as scores_lib
from cosearch.child.train import TrainConfig, Trainer
from cosearch.files.atomic import json_ready
from cosearch.final import final_key, final_task, reference
from cosearch.results.stats import kendall_tau, seed_noise_signal
from cosearch.search import setup as search_setup
from experiments import common, scoring
from experiments.proxy_measures import accuracy_table, summarize

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (its space, data, specs, train)."
)
_NUM_ARCHS = flags.DEFINE_integer("num_archs", 16, "architectures measured")
_ARCH_SEED = flags.DEFINE_integer("arch_seed", 123, "seed of the architecture draw")
_FEASIBLE = flags.DEFINE_bool(
    "feasible_only", True, "draw only architectures that meet the config's specs"
)
_SEEDS = flags.DEFINE_list(
    "seeds", ["0", "1", "2"], "proxy training seeds (none: the reference alone)"
)
_VARIANTS = flags.DEFINE_string(
    "variants",
    "",
    "';'-separated proxy variants, each 'field=value,...' "
    "overriding config.train ('' = config.train alone)",
)
_REF_SEEDS = flags.DEFINE_list(
    "reference_seeds", ["0", "1", "2"], "reference (final training) seeds"
)
_REF_OVERRIDES = flags.DEFINE_string(
    "reference_train",
    "",
    "'field=value,...' overrides of the final training (config.final) "
    "for the reference",
)
_REFERENCE = flags.DEFINE_string(
    "reference",
    "",
    "JSON of an earlier run of this script, or a reference set "
    "(experiments.reference_set): reuse its reference runs (same "
    "architectures) instead of training them",
)
_EVAL_STEPS = flags.DEFINE_list(
    "eval_steps",
    [],
    "also score each proxy run after these many steps (successive-halving "
    "rungs), and rank by them and by the training-loss sum up to them",
)
_SCORES = flags.DEFINE_list(
    "scores",
    [],
    "training-free scores to rank the same architectures with, against the "
    "reference (cosearch.child.scores.SCORES; none by default)",
)
_SCORE_IMAGES = flags.DEFINE_integer(
    "score_images", 32, "training images per network score"
)
_OUT = flags.DEFINE_string("out", None, "write the JSON here")


def parse_overrides(text: str) -> dict[str, Any]:
    """``'learning_rate=0.01,steps=40'`` -> typed TrainConfig overrides."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in types:
            raise common.UsageError(
                f"train override {part!r}: expected field=value with a field of "
                f"TrainConfig ({', '.join(sorted(types))})"
            )
        value = value.strip()
        kind = str(types[name])
        try:
            if value.lower() == "none":
                out[name] = None
            elif "int" in kind:
                out[name] = int(value)
            elif "float" in kind:
                out[name] = float(value)
            else:
                out[name] = value
        except ValueError:
            raise common.UsageError(f"train override {part!r}: bad value") from None
    return out


def train_runs(
    trainer,
    dataset,
    archs,
    config: TrainConfig,
    seeds,
    label: str,
    key_of=None,
    eval_steps=(),
):
    """One record per (architecture, seed); the key of a seed, ``key_of(seed)``
    (default ``key(seed)``), is the same for every architecture (the same
    initial draw and data order for all). ``eval_steps``: also score the
    validation split part-way (``early``), as successive-halving rungs would."""
    key_of = key_of or jax.random.key
    runs = []
    chance = math.log(dataset.num_classes)
    for i, arch in enumerate(archs):
        for seed in seeds:
            res = trainer.train(
                arch, dataset, config, key_of(seed), eval_steps=eval_steps
            )
            losses = res.loss_curve
            final = float(np.mean(losses[-5:])) if losses else float("nan")
            runs.append(
                {
                    "phase": label,
                    "arch_index": i,
                    "arch": str(arch),
                    "seed": int(seed),
                    "val_accuracy": res.val_accuracy,
                    "failed": res.failed,
                    "reason": res.reason,
                    "final_loss": final,
                    "max_loss": float(np.nanmax(losses)) if losses else float("nan"),
                    "above_chance": bool(not res.failed and final > chance),
                    "wall_s": res.wall_s,
                    "compile_s": res.compile_s,
                    "loss_curve": [float(v) for v in losses],
                    "early": [[int(s), float(a)] for s, a in res.early],
                }
            )
            print(
                f"[{label}] arch {i + 1}/{len(archs)} {arch} seed {seed}: "
                f"{res.val_accuracy:.4f} (final loss {final:.3f}, "
                f"{res.wall_s:.1f}s)",
                flush=True,
            )
    return runs


def checked_train_config(
    base: dict[str, Any], overrides: str, flag: str
) -> TrainConfig:
    """``base`` with the ``field=value`` overrides of ``flag`` applied, checked."""
    fields = {**base, **parse_overrides(overrides)}
    with common.flag_value(flag):
        return TrainConfig(**fields)


def main(argv):
    common.require(argv, config=_CONFIG.value)
    config = _CONFIG.value
    seeds = common.parse_int_list(_SEEDS.value, "--seeds")
    ref_seeds = common.parse_int_list(_REF_SEEDS.value, "--reference_seeds")
    if _NUM_ARCHS.value < 1:
        raise common.UsageError(f"--num_archs must be >= 1, got {_NUM_ARCHS.value}")
    earlier = scoring.read_reference(_REFERENCE.value) if _REFERENCE.value else None
    eval_steps = common.parse_int_list(_EVAL_STEPS.value, "--eval_steps")
    if any(s < 1 for s in eval_steps):
        raise common.UsageError(f"--eval_steps must be >= 1, got {eval_steps}")
    with common.flag_value("--scores"):
        score_names = scores_lib.check_names(_SCORES.value) if _SCORES.value else ()
    setup = search_setup.build(config)
    base = dict(dataclasses.asdict(setup.train_config))
    # No seeds: the reference alone; no variants: config.train as it is.
    variants = (
        (_VARIANTS.value.split(";") if _VARIANTS.value else [""]) if seeds else []
    )
    # Every setting is checked before anything is trained.
    proxy_configs = [
        checked_train_config(base, text, "--variants") for text in variants
    ]
    ref_config = checked_train_config(
        dataclasses.asdict(setup.final.train), _REF_OVERRIDES.value, "--reference_train"
    )
    t0 = time.perf_counter()
    archs = common.draw_architectures(
        setup, _NUM_ARCHS.value, _ARCH_SEED.value, _FEASIBLE.value
    )
    names = [str(a) for a in archs]
    trainer = Trainer()
    if earlier is not None:
        held = earlier["architectures"]
        # A reference set's draw is prefix-stable: its first --num_archs
        # architectures are this draw's.
        prefix = earlier.get("format") == reference.FORMAT and held[: len(names)]
        if held != names and prefix != names:
            raise common.UsageError(
                f"--reference={_REFERENCE.value} measured other architectures "
                "(use the same --config, --num_archs, --arch_seed, --feasible_only)"
            )
        ref_runs = [
            r for r in earlier["reference"]["runs"] if r["arch_index"] < len(names)
        ]
        ref_settings = earlier["reference"]["train"]
        ref_seeds = earlier["reference"]["seeds"]
    else:
        ref_settings = dataclasses.asdict(ref_config)
        # The search's own final training: the same data and keys.
        ref_runs = train_runs(
            trainer,
            final_task(setup.dataset),
            archs,
            ref_config,
            ref_seeds,
            "reference",
            key_of=final_key,
        )
    ref_table = accuracy_table(ref_runs, len(archs), ref_seeds)
    ref_noise, ref_signal = seed_noise_signal(ref_table)
    training_free = {}
    if score_names:
        ref_set = scoring.as_reference_set(ref_runs, names, ref_seeds, ref_settings)
        arch = setup.space.arch
        values, timing = scoring.measure(
            archs,
            setup.dataset,
            score_names,
            _SCORE_IMAGES.value,
            jax.random.key(0),
            16,
            max(arch.kernels),
            max(arch.filters),
            setup.train_config.head,
        )
        training_free = scoring.table(ref_set, values, timing, setup.input_shape)
        scoring.print_table(training_free)
    results = []
    for text, train_config in zip(variants, proxy_configs, strict=True):
        runs = train_runs(
            trainer,
            setup.dataset,
            archs,
            train_config,
            seeds,
            text or "proxy",
            eval_steps=eval_steps,
        )
        results.append(
            {
                "variant": text,
                "train": dataclasses.asdict(train_config),
                "summary": summarize(runs, ref_table, seeds),
                "runs": runs,
            }
        )
    out = {
        "what": "proxy fidelity: proxy training vs a long multi-seed reference",
        "config": {
            "space": config.space.to_dict(),
            "specs": config.specs.to_dict(),
            "data": config.data.to_dict(),
            "platform": config.platform.name,
        },
        "feasible_only": _FEASIBLE.value,
        "arch_seed": _ARCH_SEED.value,
        "architectures": names,
        "validation_images": int(setup.dataset.val.labels.shape[0]),
        "test_images": int(setup.dataset.test.labels.shape[0]),
        "train_images": int(setup.dataset.train.labels.shape[0]),
        "seeds": seeds,
        "reference": {
            "train": ref_settings,
            "seeds": ref_seeds,
            "scored_on": "test",
            "noise_std": ref_noise,
            "signal_std": ref_signal,
            "accuracy_range": [
                float(np.nanmin(ref_table.mean(axis=1))),
                float(np.nanmax(ref_table.mean(axis=1))),
            ],
            "mean_accuracy": [float(v) for v in ref_table.mean(axis=1)],
            "tau_between_seeds": [
                kendall_tau(ref_table[:, a], ref_table[:, b])
                for a in range(len(ref_seeds))
                for b in range(a + 1, len(ref_seeds))
            ],
            "runs": ref_runs,
        },
        "proxies": results,
        # Each score's tau_vs_reference is its "tau" (against the reference's
        # seed-mean accuracy); ms_per_arch, warm and batched.
        "training_free": training_free,
        "wall_s": time.perf_counter() - t0,
        "environment": common.environment(),
    }
    ref = out["reference"]
    taus = ref["tau_between_seeds"]
    print(
        f"reference (final training, test split): noise "
        f"{100 * ref_noise:.2f} pt, signal {100 * ref_signal:.2f} pt, range "
        f"{100 * ref['accuracy_range'][0]:.2f}-{100 * ref['accuracy_range'][1]:.2f}%, "
        f"tau between seeds {', '.join(f'{t:+.2f}' for t in taus) or '-'}",
        flush=True,
    )
    for r in results:
        s = r["summary"]
        print(
            f"{r['variant'] or 'proxy'}: noise {100 * s['noise_std']:.2f} pt, "
            f"signal {100 * s['signal_std']:.2f} pt, "
            f"snr {s['snr'] or float('nan'):.2f}, "
            f"tau vs reference {s['tau_mean_vs_reference']:+.2f} "
            f"(per seed {', '.join(f'{t:+.2f}' for t in s['tau_seed_vs_reference'])}), "
            f"above chance {s['final_loss_above_chance']}/{s['runs']}, "
            f"child {s['median_child_s'] or float('nan'):.1f}s",
            flush=True,
        )
        for step, b in s["by_steps"].items():
            parts = [
                f"{name} {b[name]['tau_mean_vs_reference']:+.2f}"
                for name in ("accuracy", "loss_sum")
                if b[name] is not None
            ]
            print(f"  after {step} steps: tau vs reference " + ", ".join(parts))
    common.write_benchmark(json_ready(out), _OUT.value)


if __name__ == "__main__":
    common.run(main)
