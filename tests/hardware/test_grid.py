"""Tiling grids: defaults, JSON loading, exact pruning, feasibility report."""

import itertools
import json

import numpy as np
import pytest

from cosearch.hardware.devices import DEVICES, HardwareConfigError, Library, Platform
from cosearch.hardware.grid import (
    GRID_FIELDS,
    DeviceGrid,
    default_grid,
    feasible_tilings,
    grid_report,
    grids_from_json,
    load_grid,
    platform_grids,
)
from cosearch.hardware.layer_model import Tiling
from cosearch.hardware.resources import accelerator_resources

LIB = Library()


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_default_grid_fits_the_device_and_declares_enough(name):
    dev = DEVICES[name]
    grid = default_grid(dev)
    assert grid.size >= 1000
    table = feasible_tilings(dev, grid)
    assert len(table) > 0
    for row in table[:: max(1, len(table) // 50)]:
        tm, tn, tr, tc, wp, ip, op = (int(v) for v in row)
        res = accelerator_resources(Tiling(tm, tn, tr, tc, 1, wp, ip, op))
        assert res.dsp <= dev.dsp and res.bram18 <= dev.bram18
        assert res.port_bits <= dev.port_bits


def test_pruning_keeps_exactly_the_undominated_fitting_tilings():
    dev = DEVICES["XC7Z020"]
    grid = DeviceGrid(
        tm=(8, 64), tn=(4, 8), tr=(16,), tc=(32,), wp=(1, 4, 8), ip=(2, 8), op=(1, 8)
    )
    kept = {tuple(int(v) for v in r) for r in feasible_tilings(dev, grid)}
    words = dev.port_bits // 16
    want = set()
    for tm, tn, tr, tc in itertools.product(grid.tm, grid.tn, grid.tr, grid.tc):
        res = accelerator_resources(Tiling(tm, tn, tr, tc, 1, 1, 1, 1))
        if res.dsp > dev.dsp or res.bram18 > dev.bram18:
            continue
        ports = [
            p for p in itertools.product(grid.wp, grid.ip, grid.op) if sum(p) <= words
        ]
        for p in ports:
            dominated = any(
                q != p and all(a >= b for a, b in zip(q, p, strict=True)) for q in ports
            )
            if not dominated:
                want.add((tm, tn, tr, tc, *p))
    assert kept == want and want
    # 64 * 8 = 512 DSP > 220: those pairs are gone.
    assert all(tm * tn <= dev.dsp for tm, tn, *_ in kept)


def test_json_flat_and_per_device(tmp_path):
    flat = {f: [1, 2] for f in GRID_FIELDS}
    grid = grids_from_json(flat)
    assert isinstance(grid, DeviceGrid) and grid.size == 2**7
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"XC7Z020": flat}))
    per = load_grid(path)
    plat = LIB.platform("mixed4")
    grids = platform_grids(plat, per)
    assert grids[0] == grid and grids[1] == grid
    assert grids[3] == default_grid(plat.devices[3])


@pytest.mark.parametrize(
    "spec, message",
    [
        ({**{f: [1] for f in GRID_FIELDS}, "tz": [1]}, "unknown key"),
        ({**{f: [1] for f in GRID_FIELDS}, "tm": []}, "empty list"),
        ({**{f: [1] for f in GRID_FIELDS}, "tn": [0, 2]}, "positive integers"),
        ({**{f: [1] for f in GRID_FIELDS}, "tr": [1.5]}, "positive integers"),
        ({"tm": [1]}, "missing key"),
        ({"XC7Z020": {"tm": [1]}}, "missing key"),
        ([], "expected"),
    ],
)
def test_bad_grids_are_refused_in_one_line(spec, message):
    with pytest.raises(HardwareConfigError, match=message) as err:
        grids_from_json(spec, "g.json")
    assert "\n" not in str(err.value)


def test_grid_naming_an_unknown_device_is_refused():
    flat = {f: [1] for f in GRID_FIELDS}
    with pytest.raises(HardwareConfigError, match="not in platform"):
        platform_grids(LIB.platform("pynq3"), {"XCZU9EG": DeviceGrid(**flat)})


def test_report_counts_and_refuses_a_grid_that_fits_nothing():
    plat = LIB.platform("pynq3")
    rows = grid_report(plat, platform_grids(plat))
    assert [r["device"] for r in rows] == ["XC7Z020"] * 3
    assert all(r["feasible"] > 0 and r["declared"] >= 1000 for r in rows)
    huge = DeviceGrid(tm=(512,), tn=(512,), tr=(8,), tc=(8,), wp=(1,), ip=(1,), op=(1,))
    with pytest.raises(HardwareConfigError, match="XC7Z020") as err:
        grid_report(plat, (huge,) * 3)
    assert "no feasible accelerator" in str(err.value)


def test_mixed_pool_reports_per_device():
    small = Platform("p", (DEVICES["XC7A50T"], DEVICES["XCZU9EG"]))
    big = DeviceGrid(tm=(32,), tn=(32,), tr=(8,), tc=(8,), wp=(1,), ip=(1,), op=(1,))
    rows = grid_report(small, (big, big))
    assert [r["feasible"] for r in rows] == [0, 1]
    assert np.all([r["declared"] == 1 for r in rows])
