"""Children over devices and processes: same search whatever the count.

The reference is one tiny search on the default device, in this process. The
other runs need a fresh JAX (the host device count and the multi-process
runtime are fixed when JAX starts), so they run in child processes: 4
virtual CPU devices; two processes on localhost joined by
``jax.distributed``, one of which is killed, then both resumed; and two
processes of which one fails.
"""

import json
import os
import signal
import textwrap
import time

import jax
import pytest

from cosearch.files.jsonl import read_jsonl
from cosearch.runtime import coordination, parallel
from cosearch.search import loop as search
from tests.helpers import history
from tests.launch import free_port, launch_search, run_script
from tests.tiny_search import tiny


@pytest.fixture(scope="module")
def reference(baseline_run):
    """History of the tiny search on the default device of this process."""
    records = history(baseline_run[0])
    assert any(r["status"] == "trained" for r in records)
    return records


def test_runtime_in_this_process():
    rt = parallel.Runtime.create()
    assert rt.devices == tuple(jax.local_devices())
    assert (rt.process_index, rt.process_count, rt.writer) == (0, 1, True)
    assert rt.share(5) == [0, 1, 2, 3, 4]
    single = parallel.Runtime.single()
    assert single.devices == (jax.local_devices()[0],) and single.fast_devices is None
    # One device: jobs run inline on the default device, in order.
    out = single.map_jobs(lambda job, device: {"job": job, "device": device}, [7, 8])
    assert out == [{"job": 7, "device": None}, {"job": 8, "device": None}]
    assert single.gather({3: "x"}) == {3: "x"}
    assert single.broadcast(b"payload") == b"payload"


@pytest.mark.parametrize("devices", [-1, 10_000])
def test_runtime_refuses_a_device_count_this_process_lacks(devices):
    with pytest.raises(ValueError, match="config.parallel.devices"):
        parallel.Runtime.create(devices)


def test_search_refuses_a_device_count_this_process_lacks(tmp_path):
    with pytest.raises(search.SearchConfigError, match="local device"):
        search.run(tiny(**{"parallel.devices": 64}), str(tmp_path))


def test_process_jobs_on_one_device_get_the_default_device():
    rt = parallel.Runtime.create()
    seen = []
    out = rt.map_process_jobs(lambda j, d: seen.append(d) or {"j": j}, [3, 1, 2])
    assert out == [{"j": 3}, {"j": 1}, {"j": 2}] and seen == [None] * 3


def test_process_shares_deal_jobs_round_robin():
    shares = [parallel.Runtime((None,), p, 3).share(8) for p in range(3)]
    assert shares == [[0, 3, 6], [1, 4, 7], [2, 5]]


@pytest.mark.parametrize(
    "address, count, pid, match",
    [
        ("localhost", 2, 0, "host:port"),
        ("localhost:1234", 0, 0, "number of processes"),
        ("localhost:1234", 2, 2, "process id"),
        ("localhost:1234", 2, None, "process id"),
    ],
)
def test_initialize_refuses_bad_arguments(address, count, pid, match):
    with pytest.raises(ValueError, match=match):
        coordination.initialize(address, count, pid)


# Runs with 4 host devices: jobs dealt over the devices, results in job order;
# then the tiny search on all 4 devices, and one episode of ``sequential``
# (its optimizer output is sharded over the devices before it is scored).
_FOUR_DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax
    from cosearch.runtime import parallel
    from cosearch.search import loop as search
    from tests.tiny_search import tiny

    rt = parallel.Runtime.create()
    seen = {}

    def job(j, device):
        seen[j] = device.id
        return {"j": j, "square": j * j}

    out = rt.map_jobs(job, list(range(10)))
    assert out == [{"j": j, "square": j * j} for j in range(10)], out
    assert seen == {j: j % 4 for j in range(10)}, seen
    # Jobs that each use all of the process's devices at once.
    got = rt.map_process_jobs(lambda j, d: {"j": j, "on": [x.id for x in d]}, [7, 8])
    assert got == [{"j": 7, "on": [0, 1, 2, 3]}, {"j": 8, "on": [0, 1, 2, 3]}], got
    search.run(tiny(), sys.argv[1], log=lambda _: None)
    search.run(tiny(**json.loads(sys.argv[3])), sys.argv[2], log=lambda _: None)
    print(json.dumps({"devices": len(rt.devices)}))
    """
)


SEQUENTIAL = {"strategy": "sequential", "search.episodes": 1}


def test_search_on_four_devices_equals_one_device(reference, tmp_path):
    one = tmp_path / "sequential_one_device"
    search.run(tiny(**SEQUENTIAL), str(one), log=lambda _: None)
    four = tmp_path / "four"
    out = run_script(
        _FOUR_DEVICES,
        str(four),
        str(tmp_path / "sequential_four"),
        json.dumps(SEQUENTIAL),
        devices=4,
    )
    assert json.loads(out.strip().splitlines()[-1]) == {"devices": 4}
    assert history(four) == reference
    assert history(tmp_path / "sequential_four") == history(one)


def test_a_lost_process_ends_the_run_clearly_and_the_run_resumes(reference, tmp_path):
    port = free_port()
    beat = "--heartbeat_timeout_s=6"
    procs = [launch_search(tmp_path, port, pid, beat) for pid in (0, 1)]
    metrics = os.path.join(tmp_path, "metrics.jsonl")
    deadline = time.time() + 300
    try:
        # Kill process 1 once process 0 has finished the first episode.
        while not (os.path.exists(metrics) and os.path.getsize(metrics) > 0):
            assert procs[0].poll() is None, procs[0].communicate()[1][-3000:]
            assert time.time() < deadline, "the first episode never finished"
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        out, err = procs[0].communicate(timeout=300)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert procs[0].returncode == 3, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: process(es) 1 of 2 stopped"), last
    assert "is intact" in last and "resume" in last
    steps = sorted(os.listdir(os.path.join(tmp_path, "checkpoints")))
    assert steps and steps[0] == "1", steps
    assert all(s.isdigit() for s in steps), steps  # no half-written checkpoint
    # The same two commands resume (process 0 restores and hands the state to
    # process 1) and end with the history of an uninterrupted run; with the
    # final phase on (final.* may change on resume), process 0 runs it alone
    # after process 1 has left, its weights saved without waiting for it.
    # Only process 0 touches the workdir: process 1, given another one,
    # leaves it unmade.
    port = free_port()
    final = {"final.max_designs": 2}
    elsewhere = tmp_path / "process1"
    procs = [
        launch_search(tmp_path, port, 0, **final),
        launch_search(elsewhere, port, 1, **final),
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:]
    assert "resuming" in outs[0][0] and "final training done" in outs[0][0]
    assert "final" not in outs[1][0]
    assert not elsewhere.exists()
    assert history(tmp_path) == reference
    runs = read_jsonl(os.path.join(tmp_path, "final", "runs.jsonl"))
    assert runs and len(runs) % 2 == 0  # 2 seeds of each finalized architecture


def test_an_error_on_one_process_is_reported_by_the_other(tmp_path):
    port = free_port()
    bad = ["--config.data.name=fashion_mnist", f"--config.data.data_dir={tmp_path}/no"]
    procs = [launch_search(tmp_path, port, 0), launch_search(tmp_path, port, 1, *bad)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert procs[1].returncode == 2, outs[1][1][-2000:]
    assert procs[0].returncode == 3, outs[0][1][-2000:]
    last = outs[0][1].strip().splitlines()[-1]
    assert last.startswith("error: process 1 failed:") and "no" in last, last
