"""The multi-process plumbing of a run: joining JAX's distributed runtime,
its key-value coordination service, heartbeats and lost processes
(docs/design.md section 9).

:func:`initialize` joins the run; :class:`cosearch.runtime.parallel.Runtime`
exchanges its records through :func:`client_handle`'s key-value store and
waits with :func:`wait`, which ends with :class:`DistributedError` when a
process failed (it posted an abort), stopped beating (:class:`Heartbeat`)
or the service (hosted by process 0) is gone.
"""

from __future__ import annotations

import itertools
import re
import threading
import time

import jax

from cosearch.errors import InputError, UserError

# How often a waiting process checks that the others are still alive (ms).
POLL_MS = 2000
# Seconds between liveness beats of a process (see Heartbeat).
BEAT_S = 1.0
# Seconds process 0 stays up after the others said goodbye (their disconnect
# from the coordination service it hosts must not fail).
GOODBYE_S = 1.0
KEY_PREFIX = "cosearch"
_sequence = itertools.count()  # gathers and broadcasts made by this process


def next_sequence() -> int:
    """A fresh number for this process's next gather or broadcast (every
    process makes the same exchanges in the same order)."""
    return next(_sequence)


class DistributedError(UserError, RuntimeError):
    """A multi-process run cannot go on (a lost process, a failed join)."""


def initialize(
    coordinator_address: str = "",
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    heartbeat_timeout_s: int = 100,
    init_timeout_s: int = 300,
) -> None:
    """Join a multi-process run (call before any other JAX work).

    With a coordinator address, the number of processes and this process's id
    are required; with none, JAX detects them from the cluster environment
    (SLURM, Open MPI, Kubernetes, Cloud TPU). Tasks are made recoverable so
    that a lost process is reported as a Python error (see :func:`gather`)
    instead of aborting the others.

    Raises:
      InputError: an inconsistent address / count / id.
      DistributedError: the runtime could not be joined.
    """
    if coordinator_address:
        if not re.fullmatch(r"\[?[\w.:-]+\]?:\d+", coordinator_address):
            raise InputError(
                f"coordinator address {coordinator_address!r}: expected host:port"
            )
        if num_processes is None or num_processes < 1:
            raise InputError(
                f"number of processes must be >= 1 with a coordinator, got "
                f"{num_processes}"
            )
        if process_id is None or not 0 <= process_id < num_processes:
            raise InputError(
                f"process id must be in [0, {num_processes}), got {process_id}"
            )
    if heartbeat_timeout_s < 1 or init_timeout_s < 1:
        raise InputError("heartbeat and initialization timeouts must be >= 1 s")
    jax.config.update("jax_enable_recoverability", True)
    try:
        jax.distributed.initialize(
            coordinator_address or None,
            num_processes,
            process_id,
            initialization_timeout=int(init_timeout_s),
            heartbeat_timeout_seconds=int(heartbeat_timeout_s),
        )
    except Exception as e:  # the runtime raises several types
        if coordinator_address:
            who = f"at {coordinator_address} as process {process_id} of {num_processes}"
        else:
            who = "of the detected cluster"
        raise DistributedError(
            f"could not join the multi-process run {who}: {first_line(e)}"
        ) from None
    if jax.process_count() > 1:
        HEARTBEAT.start(jax.process_index(), heartbeat_timeout_s)


def client_handle():
    """The runtime's key-value client."""
    from jax._src import distributed  # the runtime's client has no public handle

    return distributed.global_state.client


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def wait(key: str, source: int, me: int, count: int, as_bytes: bool = False):
    """The value of ``key`` once process ``source`` has set it, as process
    ``me`` of ``count`` waits.

    Raises:
      DistributedError: a process stopped beating (see :class:`Heartbeat`)
        or the coordination service is gone.
    """
    client = client_handle()
    get = (
        client.blocking_key_value_get_bytes
        if as_bytes
        else (client.blocking_key_value_get)
    )
    while True:
        try:
            return get(key, POLL_MS)
        except Exception as e:  # JaxRuntimeError: timeout or a lost service
            if "DEADLINE_EXCEEDED" not in str(e):
                raise service_lost(me, e) from None
        try:
            failed = client.key_value_try_get(f"{KEY_PREFIX}/abort")
        except Exception as e:  # NOT_FOUND: nobody failed
            if "NOT_FOUND" not in str(e):
                raise service_lost(me, e) from None
        else:
            raise DistributedError(failed)
        lost = HEARTBEAT.lost(count, me)
        if lost:
            raise DistributedError(
                f"process(es) {', '.join(map(str, lost))} of "
                f"{count} stopped (no heartbeat for "
                f"{HEARTBEAT.timeout_s:g}s) while process "
                f"{me} waited for the results of process {source}"
            )


class Heartbeat:
    """Liveness of the processes, through the coordination service.

    A daemon thread of each process increments its counter
    ``cosearch/alive/<id>`` every :data:`BEAT_S` seconds (also while the
    process trains: the devices compute without the GIL). A process whose
    counter has not moved for ``timeout_s`` seconds, as seen by a waiting
    process, is lost. (The runtime's own task heartbeats either abort every
    process when one dies, or, with recoverable tasks, can only be queried
    collectively.)
    """

    def __init__(self):
        self.timeout_s = 100.0
        self._seen: dict[int, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, process_id: int, timeout_s: float) -> None:
        self.timeout_s = float(timeout_s)
        key = f"{KEY_PREFIX}/alive/{process_id}"
        client = client_handle()
        client.key_value_increment(key, 1)

        def beat():
            while not self._stop.wait(BEAT_S):
                try:
                    client.key_value_increment(key, 1)
                except Exception:  # the service is gone: waiters will say so
                    return

        self._thread = threading.Thread(target=beat, name="cosearch-beat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def lost(self, count: int, me: int) -> list[int]:
        """Processes whose counter stood still for ``timeout_s`` seconds."""
        client = client_handle()
        now = time.monotonic()
        out = []
        for p in range(count):
            if p == me:
                continue
            try:
                value = client.key_value_increment(f"{KEY_PREFIX}/alive/{p}", 0)
            except Exception as e:
                raise DistributedError(
                    f"the coordination service (process 0) failed: {first_line(e)}"
                ) from None
            last = self._seen.get(p)
            if last is None or last[0] != value:
                self._seen[p] = (value, now)
            elif now - last[1] > self.timeout_s:
                out.append(p)
        return out


HEARTBEAT = Heartbeat()


def service_lost(me: int, e: BaseException) -> DistributedError:
    """The error of a coordination service that failed under process ``me``."""
    if me == 0:
        return DistributedError(f"the coordination service failed: {first_line(e)}")
    return DistributedError(
        f"lost process 0 (it hosts the coordination service): {first_line(e)}"
    )
