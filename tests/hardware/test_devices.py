"""Device records and platforms: presets, files, and refusal of bad records."""

import json

import numpy as np
import pytest

from cosearch.hardware.devices import (
    DEVICES,
    Device,
    HardwareConfigError,
    Library,
    load_library,
    resolve_platform,
)
from cosearch.hardware.platform_arrays import platform_arrays


def test_datasheet_table():
    assert (DEVICES["XC7Z020"].dsp, DEVICES["XC7Z020"].bram18) == (220, 280)
    assert DEVICES["XCZU9EG"].port_bits == 512
    assert Library().device("vc707").name == "XC7VX485T"


def test_platform_arrays_of_mixed4():
    arrays = platform_arrays(resolve_platform("mixed4"), xp=np)
    np.testing.assert_array_equal(arrays.dsp, [220, 220, 900, 2520])
    assert arrays.clock_hz.dtype == np.float32 and arrays.dsp.dtype == np.int32


def test_unknown_device_and_platform():
    with pytest.raises(HardwareConfigError, match="unknown FPGA device 'XC9'"):
        Library().device("XC9")
    with pytest.raises(HardwareConfigError, match="unknown platform"):
        resolve_platform("nope")


MEM = {"luts": 8, "lutram": 4, "ffs": 16}


@pytest.mark.parametrize(
    "record, message",
    [
        ({"name": "X", "dsp": 10, "bram18": 10, **MEM}, "missing field"),
        (
            {"name": "X", "dsp": 0, "bram18": 10, "port_bits": 64, **MEM},
            "'dsp' must be",
        ),
        ({"name": "X", "dsp": 10, "bram18": -1, "port_bits": 64, **MEM}, "'bram18'"),
        (
            {"name": "X", "dsp": 1, "bram18": 1, "port_bits": 1, "clock_hz": 0, **MEM},
            "'clock_hz'",
        ),
        ({"name": "X", "dsp": 1.5, "bram18": 1, "port_bits": 1, **MEM}, "integer"),
        (
            {"name": "X", "dsp": 1, "bram18": 1, "port_bits": 1, **MEM, "lutram": 9},
            "exceeds",
        ),
        ({"name": "X", "dsp": 1, "bram18": 1, "port_bits": 1, "foo": 1}, "unknown"),
    ],
)
def test_bad_device_records_refused(record, message):
    with pytest.raises(HardwareConfigError, match=message):
        Library().extended({"devices": [record]})


def test_platform_file(tmp_path):
    path = tmp_path / "hw.json"
    spec = {
        "devices": [{"name": "BIG", "base": "XCZU9EG", "dsp": 5000}],
        "platforms": {"duo": ["BIG", "XC7Z020"]},
    }
    path.write_text(json.dumps(spec))
    platform = resolve_platform(str(path))
    assert platform.device_names == ("BIG", "XC7Z020")
    assert platform.devices[0].dsp == 5000 and platform.devices[0].bram18 == 1824
    assert "BIG" in load_library(path).device_names
    with pytest.raises(HardwareConfigError, match="not found"):
        resolve_platform(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(HardwareConfigError, match="not valid JSON"):
        resolve_platform(str(tmp_path / "bad.json"))


def test_a_record_written_before_lutram_is_refused_in_one_line(tmp_path):
    """A platform file of the earlier format (no LUT or flip-flop counts) is
    one error naming the fields and where to find them, never a silent 0."""
    path = tmp_path / "old.json"
    rec = {"name": "MINE", "dsp": 900, "bram18": 1090, "port_bits": 256}
    path.write_text(json.dumps({"devices": [rec], "platforms": {"p": ["MINE"]}}))
    with pytest.raises(HardwareConfigError) as err:
        resolve_platform(str(path))
    msg = str(err.value)
    assert "\n" not in msg
    assert "missing field(s) ['luts', 'lutram', 'ffs']" in msg
    assert "LUT as Memory" in msg and "'base'" in msg
    # Naming a known device as its base fills them in.
    path.write_text(
        json.dumps(
            {"devices": [{**rec, "base": "XC7Z045"}], "platforms": {"p": ["MINE"]}}
        )
    )
    dev = resolve_platform(str(path)).devices[0]
    assert (dev.luts, dev.lutram, dev.ffs) == (218600, 70400, 437200)


def test_device_is_frozen_and_validated():
    with pytest.raises(HardwareConfigError):
        Device("Y", 1, 1, 1, 1, 1, 1, link_bps=float("nan"))


def test_bad_platform_files_end_in_one_clear_error(tmp_path):
    with pytest.raises(HardwareConfigError, match="is a directory"):
        resolve_platform(str(tmp_path) + "/")
    bad = tmp_path / "p.json"
    bad.write_text('{"platforms": ["XC7Z020"]}')
    with pytest.raises(HardwareConfigError, match="'platforms' must map"):
        resolve_platform(str(bad))
    bad.write_text(
        '{"devices": [{"name": 5, "dsp": 1, "bram18": 1, "port_bits": 8, '
        '"luts": 8, "lutram": 4, "ffs": 16}]}'
    )
    with pytest.raises(HardwareConfigError, match="'name' must be a non-empty"):
        load_library(str(bad))
    bad.write_text('{"devices": [{"name": "X", "base": 5}]}')
    with pytest.raises(HardwareConfigError, match="'base' must name a known device"):
        load_library(str(bad))


@pytest.mark.parametrize(
    "field, value",
    [
        ("clock_hz", 1e300),
        ("dsp", 1e10),
        ("link_bps", 1e-3),
        ("static_w", 1e9),
        ("port_bits", 1 << 31),
    ],  # fmt: skip
)
def test_absurd_device_values_are_refused(field, value, tmp_path):
    path = tmp_path / "hw.json"
    rec = {"name": "MINE", "base": "XC7Z020", field: value}
    path.write_text(json.dumps({"devices": [rec]}))
    with pytest.raises(HardwareConfigError, match=f"{field} = .* plausible range"):
        load_library(str(path))
