"""Orbax checkpoints of a search: array state plus a JSON record of the rest.

A checkpoint at episode ``e`` holds everything needed to continue exactly
where the run stopped: the controller's train state (arrays), and a JSON
record with the episode, the accuracy cache, the history position and a
fingerprint of the configuration it was made with.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from cosearch.errors import UserError


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used (corrupt, or made by another config)."""


def this_process_only() -> ocp.options.MultiprocessingOptions:
    """Orbax options under which this process saves and restores alone: no
    barrier with the other processes of a multi-process run (only process 0
    writes results, and the others may have left already)."""
    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


def standard_checkpointer() -> ocp.StandardCheckpointer:
    """A StandardCheckpointer for one pytree that never waits for other
    processes (:func:`this_process_only`)."""
    if jax.process_count() == 1:
        return ocp.StandardCheckpointer()
    return ocp.StandardCheckpointer(multiprocessing_options=this_process_only())


class Checkpointer:
    """Saves and restores numbered checkpoints under ``directory``.

    Used by one process; in a multi-process run, by process 0 alone.

    Args:
      directory: where the numbered checkpoint folders live (created).
      max_to_keep: how many recent checkpoints to keep.
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 2):
        self.directory = os.path.abspath(os.fspath(directory))
        # In a multi-process run only this process saves (process 0 writes
        # the results): no barrier with the others.
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        if jax.process_count() > 1:
            os.makedirs(self.directory, exist_ok=True)
            options.create = False
            options.enable_async_checkpointing = False  # saves block anyway
            options.multiprocessing_options = this_process_only()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "record": ocp.JsonCheckpointHandler(),
            },
        )

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The complete checkpoints' steps, newest first."""
        return sorted(self._manager.all_steps(), reverse=True)

    def discard(self, step: int) -> None:
        """Delete checkpoint ``step`` (one passed over as damaged or stale, so
        that the episode it covered can be saved again)."""
        try:
            self._manager.delete(step)
        except Exception:  # a damaged checkpoint may not delete cleanly
            shutil.rmtree(os.path.join(self.directory, str(step)), ignore_errors=True)
            self._manager.reload()

    def save(self, step: int, state: Any, record: dict[str, Any]) -> None:
        """Save ``state`` (a pytree of arrays) and ``record`` (JSON) as ``step``.

        Blocks until the checkpoint is complete on disk, so a crash right
        after this call never leaves a half-written newest checkpoint.
        """
        state = jax.device_get(state)  # host copies: saved alike by any process
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> tuple[Any, dict[str, Any]]:
        """Restore checkpoint ``step``, its state shaped like the pytree ``like``.

        Raises:
          CheckpointError: the checkpoint is unreadable or does not match
            ``like`` (structure, shapes or dtypes).
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, jax.device_get(like))
        where = os.path.join(self.directory, str(step))
        self._check_compatible(step, abstract, where)
        try:
            out = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract),
                    record=ocp.args.JsonRestore(),
                ),
            )
        except Exception as e:  # orbax raises many types for a damaged file
            raise CheckpointError(
                f"checkpoint {where} is corrupt or incompatible ({_first_line(e)})"
            ) from e
        state, record = out["state"], out["record"]
        if not isinstance(record, dict):
            raise CheckpointError(f"checkpoint {where}: its JSON record is missing")
        return state, record

    def _check_compatible(self, step: int, abstract: Any, where: str) -> None:
        """Compare the saved tree's structure, shapes and dtypes with ``abstract``."""
        try:
            saved = self._manager.item_metadata(step)["state"].tree
            saved_leaves = jax.tree_util.tree_flatten_with_path(saved)[0]
        except Exception as e:
            raise CheckpointError(
                f"checkpoint {where} is corrupt or incompatible ({_first_line(e)})"
            ) from e
        want = jax.tree_util.tree_flatten_with_path(abstract)[0]
        saved_paths = [jax.tree_util.keystr(p) for p, _ in saved_leaves]
        want_paths = [jax.tree_util.keystr(p) for p, _ in want]
        if saved_paths != want_paths:
            extra = sorted(set(saved_paths) ^ set(want_paths))[:3]
            raise CheckpointError(
                f"checkpoint {where} is incompatible with this run: its state has a "
                f"different structure (differs at {extra})"
            )
        for (path, a), (_, b) in zip(saved_leaves, want, strict=True):
            if tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype:
                raise CheckpointError(
                    f"checkpoint {where} is incompatible with this run: "
                    f"{jax.tree_util.keystr(path)} is {tuple(a.shape)} {a.dtype}, "
                    f"expected {tuple(b.shape)} {b.dtype}"
                )

    def close(self) -> None:
        self._manager.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200] if text else ''}"
