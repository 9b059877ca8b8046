import glob
import os

import jax.numpy as jnp
import numpy as np
import pytest

from cosearch.files.checkpoint import Checkpointer, CheckpointError


def _state():
    return {"params": {"w": jnp.arange(6.0).reshape(2, 3)}, "step": jnp.int32(7)}


def test_round_trip(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt")
    assert ck.latest_step() is None
    record = {"episode": 3, "cache": {"3,24,1": 0.81}, "history_lines": 12}
    ck.save(3, _state(), record)
    assert ck.latest_step() == 3
    state, rec = ck.restore(3, _state())
    np.testing.assert_array_equal(state["params"]["w"], _state()["params"]["w"])
    assert int(state["step"]) == 7
    assert rec == record
    ck.close()


def test_incompatible_shape_is_refused(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt")
    ck.save(1, _state(), {"episode": 1})
    other = {"params": {"w": jnp.zeros((4, 3))}, "step": jnp.int32(0)}
    with pytest.raises(CheckpointError, match="incompatible with this run"):
        ck.restore(1, other)


def test_corrupt_files_are_refused(tmp_path):
    ck = Checkpointer(tmp_path / "ckpt")
    ck.save(2, _state(), {"episode": 2})
    ck.close()
    for path in glob.glob(
        str(tmp_path / "ckpt" / "2" / "state" / "**"), recursive=True
    ):
        if os.path.isfile(path) and "manifest" in os.path.basename(path):
            with open(path, "wb") as f:
                f.write(b"\x00garbage")
    ck = Checkpointer(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="corrupt or incompatible"):
        ck.restore(2, _state())


def test_restore_from_a_new_process_view(tmp_path):
    # A resumed run opens the directory afresh: restore must not need the
    # objects that saved it.
    ck = Checkpointer(tmp_path / "ckpt")
    ck.save(5, _state(), {"episode": 5})
    ck.close()
    ck = Checkpointer(tmp_path / "ckpt")
    assert ck.latest_step() == 5
    state, rec = ck.restore(5, _state())
    assert rec == {"episode": 5}
    np.testing.assert_array_equal(state["params"]["w"], _state()["params"]["w"])


def test_a_damaged_log_line_names_the_file_and_line(tmp_path):
    from cosearch.files.jsonl import LogError, read_jsonl

    path = tmp_path / "history.jsonl"
    path.write_text('{"a": 1}\n{"b": \n{"c": 3}\n')
    with pytest.raises(LogError, match=r"history.jsonl line 2 is damaged"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n{"b": 2')  # a half-written last line is dropped
    assert read_jsonl(path) == [{"a": 1}]
