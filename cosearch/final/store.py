"""The files of final training in a run's workdir: run records and weights.

``final/runs.jsonl``: one JSON line per finished (architecture, seed)
training, appended in one write with an fsync after its weights are safe on
disk; ``final/weights/<settings>/<architecture>/seed_<s>/``: the trained
``{"params", "batch_stats"}`` (orbax). A run is identified by the
architecture, the seed and a fingerprint of the final-training settings and
data, so a finished training is never redone and one made with other
settings is never mistaken for a current one. A crash loses at most the
training in progress: its weights without a record line are written again,
a record line cut short is dropped, and a record whose weights folder is
gone is trained again. Only this process reads and writes (in a
multi-process run, process 0).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

import jax
import numpy as np

from cosearch.errors import UserError
from cosearch.files.checkpoint import standard_checkpointer
from cosearch.files.jsonl import JsonlWriter, read_jsonl

FINAL_DIR = "final"
RUNS_FILE = "runs.jsonl"
WEIGHTS_DIR = "weights"


class FinalStoreError(UserError, RuntimeError):
    """Saved final-training weights that cannot be used (missing or corrupt)."""


def fingerprint(settings: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able settings record."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def arch_dirname(architecture: str) -> str:
    """``"3,36,1;5,24,1"`` -> ``"k3f36s1-k5f24s1"`` (a file name)."""
    layers = [part.split(",") for part in architecture.split(";")]
    return "-".join(f"k{k}f{f}s{s}" for k, f, s in layers)


class FinalStore:
    """Final-training records and weights under ``workdir/final``.

    Args:
      workdir: the search's output folder.
    """

    def __init__(self, workdir: str | os.PathLike):
        self.root = os.path.join(os.path.abspath(os.fspath(workdir)), FINAL_DIR)
        self.runs_path = os.path.join(self.root, RUNS_FILE)

    def runs(self, settings_id: str | None = None) -> list[dict[str, Any]]:
        """The finished runs (only those of ``settings_id`` whose weights are
        on disk when ``settings_id`` is given: a run whose weights were lost
        is trained again)."""
        if not os.path.exists(self.runs_path):
            return []
        runs = read_jsonl(self.runs_path)
        if settings_id is not None:
            runs = [
                r
                for r in runs
                if r.get("settings_id") == settings_id and self.has_weights(r)
            ]
        return runs

    def weights_path(self, settings_id: str, architecture: str, seed: int) -> str:
        return os.path.join(
            self.root,
            WEIGHTS_DIR,
            settings_id,
            arch_dirname(architecture),
            f"seed_{int(seed)}",
        )

    def save(self, record: dict[str, Any], variables: Any) -> None:
        """Save a finished run: its weights, then its record line.

        Args:
          record: JSON-able, with ``architecture``, ``seed`` and
            ``settings_id``; the weights' folder (relative to the workdir) is
            added as ``weights``.
          variables: the trained ``{"params", "batch_stats"}``.
        """
        path = self.weights_path(
            record["settings_id"], record["architecture"], record["seed"]
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        host = jax.tree.map(np.asarray, jax.device_get(variables))
        checkpointer = standard_checkpointer()
        try:
            # force: a save cut short by a crash left the folder, no record.
            checkpointer.save(path, host, force=True)
            checkpointer.wait_until_finished()
        finally:
            checkpointer.close()
        rel = os.path.relpath(path, os.path.dirname(self.root))
        self._cut_partial_line()
        JsonlWriter(self.runs_path).append([{**record, "weights": rel}])

    def _cut_partial_line(self) -> None:
        """Drop a last line a crash left without its newline, so that the next
        record starts a line of its own."""
        if not os.path.exists(self.runs_path):
            return
        with open(self.runs_path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def has_weights(self, record: dict[str, Any]) -> bool:
        """Whether a run record's weights folder is on disk."""
        return os.path.isdir(
            os.path.join(os.path.dirname(self.root), record["weights"])
        )

    def load(self, record: dict[str, Any]) -> dict[str, Any]:
        """The saved ``{"params", "batch_stats"}`` of a run record (NumPy).

        Raises:
          FinalStoreError: the weights are missing or unreadable.
        """
        path = os.path.join(os.path.dirname(self.root), record["weights"])
        if not os.path.isdir(path):
            raise FinalStoreError(f"{path}: no saved weights (the folder is missing)")
        checkpointer = standard_checkpointer()
        try:
            tree = checkpointer.restore(path)
        except Exception as e:  # orbax raises many types for a damaged folder
            first = str(e).strip().splitlines()
            raise FinalStoreError(
                f"{path}: saved weights are corrupt ({type(e).__name__}: "
                f"{first[0][:200] if first else ''})"
            ) from e
        finally:
            checkpointer.close()
        return jax.tree.map(np.asarray, tree)

    def clear(self) -> None:
        """Delete every final-training file (a fresh search)."""
        shutil.rmtree(self.root, ignore_errors=True)
