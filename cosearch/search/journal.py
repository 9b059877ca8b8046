"""The trainings since the last checkpoint (``workdir/trainings.jsonl``), so
that a crash mid-episode, mid-rung included, resumes without training again
the children that had finished (docs/design.md section 8.2).

Every child training of an episode (a successive-halving rung or the proxy)
is appended as one line when it ends, named by its architecture, its budget
(steps x batch) and its PRNG key. A resumed run runs the episodes after its
checkpoint again, with the same keys, and takes the result of a training the
journal holds instead of training it; the run is the same as an
uninterrupted one. A checkpoint empties the journal (what came before is in
the checkpoint). The first line holds the run's config fingerprint: a
journal of another config, or a damaged one, is set aside (its children are
trained again).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from cosearch.child.train_steps import TrainConfig
from cosearch.files.atomic import atomic_write_text
from cosearch.files.jsonl import JsonlWriter, LogError, read_jsonl, to_json_line

FILE = "trainings.jsonl"


def training_name(arch: str, config: TrainConfig, key: jax.Array) -> str:
    """What identifies one child training: architecture, budget and key."""
    data = np.asarray(jax.device_get(jax.random.key_data(key)))
    return f"{arch}|{config.steps}x{config.batch_size}|{data.tobytes().hex()}"


class TrainingJournal:
    """Child trainings since the last checkpoint.

    Args:
      path: the journal file (None: keep nothing, e.g. on processes other
        than 0 of a multi-process run).
      config: the run's config fingerprint (the header line).
      known: trainings restored on resume, by :func:`training_name`; only
        these are looked up, so every process agrees on what is known.
    """

    def __init__(
        self,
        path: str | None,
        config: dict[str, Any],
        known: dict[str, dict[str, Any]] | None = None,
    ):
        self.path = path
        self.config = json.loads(to_json_line(config))  # as read back
        self.known = dict(known or {})
        self._lock = threading.Lock()
        self._writer = None if path is None else JsonlWriter(path)

    @classmethod
    def open(
        cls, path: str, config: dict[str, Any], log: Callable[[str], None]
    ) -> TrainingJournal:
        """The journal at ``path``, its trainings known if it belongs to a
        run of ``config`` (else set aside with a log line)."""
        known: dict[str, dict[str, Any]] = {}
        if os.path.exists(path):
            try:
                lines = read_jsonl(path)
            except LogError as e:
                lines = []
                log(f"{e}; its children are trained again")
            if lines and lines[0].get("config") == json.loads(to_json_line(config)):
                known = {r["name"]: r["result"] for r in lines[1:]}
            elif len(lines) > 1:
                log(
                    f"{path} belongs to a run of another config; its "
                    f"{len(lines) - 1} training(s) are not used"
                )
        journal = cls(path, config, known)
        if known:
            log(f"{len(known)} child training(s) found in {path}: not trained again")
        else:
            journal.clear()
        return journal

    def lookup(self, name: str) -> dict[str, Any] | None:
        """The result of training ``name`` before the restart, or None."""
        return self.known.get(name)

    def add(self, name: str, result: dict[str, Any]) -> None:
        """Keep the result of a finished training (thread-safe)."""
        if self._writer is None:
            return
        with self._lock:
            self._writer.append([{"name": name, "result": result}])

    def clear(self) -> None:
        """Start over after a checkpoint: the file holds its header only."""
        self.known = {}
        if self.path is not None:
            atomic_write_text(self.path, to_json_line({"config": self.config}))
