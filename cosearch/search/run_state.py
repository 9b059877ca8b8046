"""One search run's state and what outlives its process: checkpoints, outputs.

:class:`RunState` holds where a run stands (episode, children trained, the
accuracy cache, the controller state) and owns its files in ``workdir``: the
logs, the orbax checkpoints saved after whole episodes, their restore on
resume (a damaged checkpoint is passed over for an older one; one of another
config is refused, by a fingerprint of every field but
:data:`RESUMABLE_FIELDS` and other strategies' fields) and the report and
plots written from the logs (docs/design.md section 8). The episode loop of
:mod:`cosearch.search.loop` builds on it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from typing import Any

import jax
from flax import serialization

from cosearch.files.atomic import atomic_write_json
from cosearch.files.checkpoint import Checkpointer, CheckpointError
from cosearch.files.jsonl import JsonlWriter, read_jsonl
from cosearch.final import phase as final_phase
from cosearch.final.store import FinalStore
from cosearch.policy import reinforce
from cosearch.results import report as report_lib
from cosearch.runtime import parallel
from cosearch.search import journal as journal_lib
from cosearch.search.episode import Context
from cosearch.search.settings import Setup
from cosearch.search.strategies import STRATEGIES

# The search's budget fields.
BUDGET_FIELDS = (
    "search.episodes",
    "search.max_children",
    "search.max_train_images",
    "search.max_wall_s",
    "search.max_idle_episodes",
)
# Config fields that may change between a run and its resumption.
RESUMABLE_FIELDS = (*BUDGET_FIELDS, "search.checkpoint_every", "parallel.devices")
# Config groups that may change too: the final training (its runs are kept
# by the settings they were made with, cosearch.final.store).
RESUMABLE_GROUPS = ("final.",)
RUN_INFO_FILE = "run_info.json"
CHECKPOINT_DIR = "checkpoints"
CONFIG_FILE = "config.json"
OUTPUT_FILES = (
    CONFIG_FILE,
    "metrics.jsonl",
    "history.jsonl",
    "pareto.json",
    "best_designs.json",
    "report.md",
    "pareto.png",
    "learning.png",
    RUN_INFO_FILE,
    journal_lib.FILE,
)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def _relevant(flat: dict[str, Any], strategy: str) -> dict[str, Any]:
    """The fields of a flat config a resumed run must share with its checkpoint:
    all but the budget (RESUMABLE_FIELDS) and the fields that only other
    strategies read (their ``config_fields`` in the strategy table)."""
    others = set()
    for owner, entry in STRATEGIES.items():
        if owner != strategy:
            others.update(entry.config_fields)
    # A field this strategy reads too is never ignored.
    ignored = set(RESUMABLE_FIELDS) | (others - set(STRATEGIES[strategy].config_fields))
    return {
        k: v
        for k, v in flat.items()
        if k not in ignored and not k.startswith(RESUMABLE_GROUPS)
    }


def _fingerprint(setup: Setup) -> dict[str, Any]:
    return _relevant(_flat(setup.config_json), setup.strategy)


def config_differences(
    saved: dict[str, Any], setup: Setup, also: tuple[str, ...] = ()
) -> list[str]:
    """The fields a resumed run must share with ``setup`` (and the fields
    ``also`` names, e.g. the budget) on which the config ``saved`` (a
    run's config.json) differs from it, sorted."""
    want_flat, saved_flat = _flat(setup.config_json), _flat(saved)
    want = _relevant(want_flat, setup.strategy)
    have = _relevant(saved_flat, setup.strategy)
    for key in also:
        want[key], have[key] = want_flat.get(key), saved_flat.get(key)
    return sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))


def clear_outputs(workdir: str) -> None:
    """Remove a previous run's outputs (the --fresh flag), its final
    trainings included."""
    shutil.rmtree(os.path.join(workdir, CHECKPOINT_DIR), ignore_errors=True)
    FinalStore(workdir).clear()
    for name in OUTPUT_FILES:
        path = os.path.join(workdir, name)
        if os.path.exists(path):
            os.unlink(path)


def _train_state(state: reinforce.ReinforceState) -> dict[str, Any]:
    """The array part of the controller state as nested dicts (what a
    checkpoint stores; optimizer named tuples become dicts)."""
    return serialization.to_state_dict(
        {
            "params": state.params,
            "opt_state": state.opt_state,
            "baseline": state.baseline,
            "step": state.step,
        }
    )


def _from_state_dict(state: reinforce.ReinforceState, arrays) -> dict[str, Any]:
    """The fields of a controller state from :func:`_train_state`'s dicts."""
    return serialization.from_state_dict(
        {
            "params": state.params,
            "opt_state": state.opt_state,
            "baseline": state.baseline,
            "step": state.step,
        },
        arrays,
    )


class RunState:
    """The mutable state of one search (host side) and its persistence.

    Only the writer process (process 0) has the logs and the checkpointer.

    Attributes:
      ctx: what the episodes read and extend (its ``cache`` is checkpointed).
      state: the controller's REINFORCE state.
      loop_key: the key episode ``e`` folds ``e`` into.
      episode: the next episode to run.
      saved_episode: the episode of the last checkpoint (-1: none yet).
    """

    def __init__(
        self,
        setup: Setup,
        workdir: str,
        log: Callable[[str], None],
        runtime: parallel.Runtime,
        ctx: Context,
    ):
        self.setup = setup
        self.workdir = workdir
        self.log = log
        self.runtime = runtime
        self.writer = runtime.writer
        self.root = jax.random.key(setup.seed)
        init_key, self.loop_key = jax.random.split(self.root)
        self.state = reinforce.init(setup.reinforce_config, setup.controller, init_key)
        self.history = self.metrics = self.ckpt = None
        if self.writer:
            self.history = JsonlWriter(os.path.join(workdir, "history.jsonl"))
            self.metrics = JsonlWriter(os.path.join(workdir, "metrics.jsonl"))
            self.ckpt = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR))
        self.ctx = ctx
        self.episode = 0  # next episode to run
        self.children_trained = 0
        self.train_images = 0  # child-training compute spent
        self.idle_episodes = 0  # episodes in a row that trained no new child
        self.best_at_spec = None  # best accuracy meeting the specs so far
        self.settled_cache: dict[str, Any] = {}  # the cache after the last episode
        self.elapsed_s = 0.0  # wall time of earlier sessions of this run
        self.saved_episode = -1

    def progress(self) -> dict[str, Any]:
        """Where the run stands (restored by :meth:`_apply`)."""
        return {
            "episode": self.episode,
            "children_trained": self.children_trained,
            "train_images": self.train_images,
            "idle_episodes": self.idle_episodes,
            "best_at_spec": self.best_at_spec,
            "elapsed_s": self.elapsed_s,
            # As it was at the end of the last whole episode: an interrupted
            # episode runs again on resume, its finished trainings taken
            # from the journal (cosearch.search.journal).
            "cache": self.settled_cache,
        }

    def _apply(self, progress: dict[str, Any]) -> None:
        self.episode = int(progress["episode"])
        self.children_trained = int(progress["children_trained"])
        # Checkpoints made before compute was counted hold none.
        self.train_images = int(progress.get("train_images", 0))
        self.idle_episodes = int(progress["idle_episodes"])
        self.best_at_spec = progress["best_at_spec"]
        self.elapsed_s = float(progress["elapsed_s"])
        self.ctx.cache = dict(progress["cache"])
        self.settled_cache = dict(self.ctx.cache)

    def record(self) -> dict[str, Any]:
        """What a checkpoint stores besides the controller's arrays."""
        return {
            **self.progress(),
            "history_bytes": self.history.position(),
            "metrics_bytes": self.metrics.position(),
            "config": _fingerprint(self.setup),
        }

    def save(self, mid_episode: bool = False) -> None:
        """Checkpoint the run after its last whole episode; the journal is
        emptied unless an episode was cut short (its trainings are kept for
        the resume)."""
        if self.writer:
            self.ckpt.save(self.episode, _train_state(self.state), self.record())
        self.saved_episode = self.episode
        if self.ctx.journal is not None and not mid_episode:
            self.ctx.journal.clear()

    def close(self) -> None:
        if self.writer:
            self.ckpt.close()

    def resume(self) -> bool:
        """Restore the newest checkpoint (process 0), hand it to every other
        process; False when there is none."""
        resumed = self._restore() if self.writer else False
        fingerprint = _fingerprint(self.setup)
        if self.writer:
            path = os.path.join(self.workdir, journal_lib.FILE)
            self.ctx.journal = journal_lib.TrainingJournal.open(
                path, fingerprint, self.log
            )
        if self.runtime.process_count == 1:
            return resumed
        mine = None
        if self.writer:
            mine = json.dumps(
                {
                    "resumed": resumed,
                    **self.progress(),
                    "journal": self.ctx.journal.known,
                }
            ).encode()
            mine += b"\0" + serialization.to_bytes(_train_state(self.state))
        head, _, arrays = self.runtime.broadcast(mine).partition(b"\0")
        rec = json.loads(head)
        if not self.writer:
            state = serialization.from_bytes(_train_state(self.state), arrays)
            self.state = self.state.replace(**_from_state_dict(self.state, state))
            self._apply(rec)
            self.saved_episode = self.episode if rec["resumed"] else -1
            self.ctx.journal = journal_lib.TrainingJournal(
                None, fingerprint, rec["journal"]
            )
        return bool(rec["resumed"])

    def _restore(self) -> bool:
        """Restore the newest usable checkpoint; False when there is none.

        A damaged checkpoint, or one whose logs were cut shorter than it
        records, is passed over for the one before it (the episodes after
        that one are run again, with the same results); a checkpoint of
        another config is an error.
        """
        steps = self.ckpt.all_steps()
        if not steps:
            if self.history.position() > 0:
                raise CheckpointError(
                    f"{self.workdir} holds results but no checkpoint; pass --fresh "
                    "to start over there, or choose another --workdir"
                )
            return False
        template = _train_state(self.state)
        passed = []  # (step, why) of the checkpoints passed over
        for step in steps:
            try:
                arrays, rec = self.ckpt.restore(step, template)
            except CheckpointError as e:
                passed.append((step, str(e)))
                continue
            self._check_config(rec)
            logs = ((self.history, "history_bytes"), (self.metrics, "metrics_bytes"))
            short = [w.path for w, key in logs if w.position() < int(rec[key])]
            if short:
                why = f"{', '.join(short)} cut shorter than checkpoint {step} records"
                passed.append((step, why))
                continue
            self.state = self.state.replace(**_from_state_dict(self.state, arrays))
            self._apply(rec)
            self.history.truncate(int(rec["history_bytes"]))
            self.metrics.truncate(int(rec["metrics_bytes"]))
            self.saved_episode = self.episode
            for newer, _ in passed:
                self.ckpt.discard(newer)
            if passed:
                newest = passed[0][0]
                self.log(
                    f"checkpoint {newest} passed over ({passed[0][1]}); resuming "
                    f"from checkpoint {step}: episodes {step + 1}-{newest} run "
                    "again, with the same results"
                )
            return True
        raise CheckpointError(
            f"no usable checkpoint in {self.workdir}: "
            + "; ".join(why for _, why in passed)
            + "; pass --fresh to start over there, or choose another --workdir"
        )

    def _check_config(self, rec: dict[str, Any]) -> None:
        want = _fingerprint(self.setup)
        saved = _relevant(rec.get("config", {}), self.setup.strategy)
        diff = sorted(k for k in set(want) | set(saved) if want.get(k) != saved.get(k))
        if diff:
            raise CheckpointError(
                f"{self.workdir} holds a run of another config (differs in "
                f"{', '.join(diff[:5])}); pass --fresh to start over, or use the "
                "same config"
            )

    def write_config(self) -> None:
        """The run's config.json (process 0), from the config it was built from."""
        if self.writer:
            atomic_write_json(
                os.path.join(self.workdir, CONFIG_FILE), self.setup.config_json
            )

    def write_outputs(self) -> report_lib.Summary | None:
        """Report and plots from the logs, on proxy accuracy (process 0;
        others return None); :meth:`finalize` rewrites them with the final
        training's accuracies."""
        if not self.writer:
            return None
        s = self.setup
        history = read_jsonl(self.history.path)
        metrics = read_jsonl(self.metrics.path)
        info = self.run_info(history, metrics)
        atomic_write_json(os.path.join(self.workdir, RUN_INFO_FILE), info)
        return report_lib.write_outputs(
            self.workdir,
            history,
            info,
            objective=s.objective,
            margin=s.search.opt_hw_margin,
            metrics=metrics,
        )

    def finalize(self, trainer, log) -> report_lib.Summary | None:
        """The final phase (process 0): final-train the run's designs and
        rewrite its results with their test accuracies
        (:func:`cosearch.final.phase.run_final`); None when
        ``final.max_designs`` is 0 or on other processes."""
        if not self.writer or not self.setup.final.enabled:
            return None
        history = read_jsonl(self.history.path)
        metrics = read_jsonl(self.metrics.path)
        info = self.run_info(history, metrics)
        return final_phase.run_final(self.setup, self.workdir, info, trainer, log)

    def run_info(self, history, metrics) -> dict[str, Any]:
        """The run's key facts for report.md (also kept in run_info.json)."""
        s = self.setup
        info = {
            "strategy": s.strategy,
            "platform": f"{s.platform.name} ({', '.join(s.platform.device_names)})",
            "data": s.dataset.name,
            "specs": s.spec_text(),
            "episodes": self.episode,
            "proposals": len(history),
            "children trained": self.children_trained,
            "fast level s": sum(m["fast_s"] for m in metrics),
            "slow level s": sum(m["slow_s"] for m in metrics),
            "wall s": self.elapsed_s,
        }
        if self.ctx.fixed_design is not None:
            info["fixed design"] = "; ".join(
                f"{st.first}-{st.last} on {s.platform.devices[st.device].name}"
                for st in self.ctx.fixed_design.stages
            )
        return info
