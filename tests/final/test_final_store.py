"""Final-training records and weights in a workdir."""

import os

import numpy as np
import pytest

from cosearch.final import store as store_lib


def _variables(v=1.0):
    return {
        "params": {"Conv_0": {"kernel": np.full((3, 3, 1, 2), v, np.float32)}},
        "batch_stats": {"BatchNorm_0": {"mean": np.zeros(2, np.float32)}},
    }


def _record(arch="3,8,1;1,4,1", seed=0, sid="abc"):
    return {
        "architecture": arch,
        "seed": seed,
        "settings_id": sid,
        "test_accuracy": 0.5,
    }


def test_save_then_load_round_trip(tmp_path):
    st = store_lib.FinalStore(tmp_path)
    st.save(_record(), _variables(2.0))
    (rec,) = st.runs()
    assert rec["weights"] == os.path.join(
        "final", "weights", "abc", "k3f8s1-k1f4s1", "seed_0"
    )
    got = st.load(rec)
    np.testing.assert_array_equal(got["params"]["Conv_0"]["kernel"], 2.0)
    assert st.runs("abc") == [rec] and st.runs("other") == []


def test_a_save_cut_short_is_written_again(tmp_path):
    st = store_lib.FinalStore(tmp_path)
    path = st.weights_path("abc", "3,8,1;1,4,1", 0)
    os.makedirs(path)  # a crash left a half-written folder and no record
    (
        tmp_path / "final" / "weights" / "abc" / "k3f8s1-k1f4s1" / "seed_0" / "junk"
    ).write_text("x")
    st.save(_record(), _variables(3.0))
    np.testing.assert_array_equal(
        st.load(st.runs()[0])["params"]["Conv_0"]["kernel"], 3.0
    )


def test_missing_or_corrupt_weights_are_one_clear_error(tmp_path):
    st = store_lib.FinalStore(tmp_path)
    st.save(_record(), _variables())
    rec = st.runs()[0]
    path = tmp_path / rec["weights"]
    for name in os.listdir(path):
        target = path / name
        if target.is_file():
            target.write_bytes(b"garbage")
    with pytest.raises(store_lib.FinalStoreError, match="corrupt"):
        st.load(rec)
    with pytest.raises(store_lib.FinalStoreError, match="missing"):
        st.load({**rec, "weights": "final/weights/none"})


def test_fingerprint_is_stable_and_arch_names_are_file_names():
    a = store_lib.fingerprint({"b": 1, "a": [1, 2]})
    assert a == store_lib.fingerprint({"a": [1, 2], "b": 1}) and len(a) == 12
    assert a != store_lib.fingerprint({"a": [1, 2], "b": 2})
    assert store_lib.arch_dirname("3,36,1;5,24,2") == "k3f36s1-k5f24s2"
