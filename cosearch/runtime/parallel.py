"""Where a search runs: every local device, and several processes.

docs/design.md section 9.

* Fast level: the cost-model and optimizer batches are split over the local
  devices (:mod:`cosearch.hardware.sharding`); every process runs the whole
  fast level of an episode itself (it is cheap), so all of them hold the
  same candidates.
* Slow level: the children an episode must train are dealt out in episode
  order, job ``j`` to process ``j % P``, and inside a process its ``k``-th
  job to local device ``k % D``; each device trains its children one after
  another in a thread of its own (JAX releases the GIL while a device
  computes). A child's result does not depend on which device trained it
  (same program, same key, same data order), so the search is the same
  whatever the number of devices or processes. Batched children
  (:mod:`cosearch.child.batched`) may instead run one batch per process on
  all its devices at once (:meth:`Runtime.map_process_jobs`).
* Several processes (hosts):
  :func:`cosearch.runtime.coordination.initialize` joins JAX's
  multi-process runtime (``jax.distributed``). Results are all-gathered as small JSON
  records through the runtime's coordination service (its key-value store),
  so no device collective is needed and it works the same on CPU, GPU and
  TPU; every process then applies the same controller update, and only
  process 0 writes results and checkpoints. Process 0 also decides when the
  run stops (:meth:`Runtime.agree`), so that every process runs the same
  sequence of exchanges. A process that fails posts its error for the others
  (:meth:`Runtime.abort`); one that stops sending heartbeats is declared
  lost. Either way the others end with
  :class:`cosearch.runtime.coordination.DistributedError` at their
  next exchange; the checkpoints process 0 wrote before are intact.

GPUs: a child's result is the same on every device of one kind only if the
device's programs are deterministic; with cuDNN autotuning each device may
pick its own convolution algorithm, so set
``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` where bit-identical results
across device counts matter.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import jax

from cosearch.errors import InputError
from cosearch.runtime import coordination


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The devices and processes a search uses.

    Attributes:
      devices: the local devices this process trains children on (and shards
        the fast level over).
      process_index: this process's index (0 writes the results).
      process_count: processes in the run.
    """

    devices: tuple[jax.Device, ...]
    process_index: int = 0
    process_count: int = 1

    @classmethod
    def create(cls, devices: int = 0) -> Runtime:
        """The runtime of this process: its first ``devices`` local devices
        (0 = all of them) and JAX's process index and count.

        Raises:
          InputError: ``devices`` is negative or more than this process has.
        """
        local = jax.local_devices()
        if devices < 0 or devices > len(local):
            raise InputError(
                f"config.parallel.devices = {devices}: this process has "
                f"{len(local)} local device(s) ({local[0].platform}); use 0 for all"
            )
        return cls(
            devices=tuple(local[: devices or len(local)]),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )

    @classmethod
    def single(cls) -> Runtime:
        """One process, its default device (the behaviour with no parallel
        config)."""
        return cls(devices=(jax.local_devices()[0],))

    @property
    def writer(self) -> bool:
        """Whether this process writes results and checkpoints."""
        return self.process_index == 0

    @property
    def fast_devices(self) -> tuple[jax.Device, ...] | None:
        """Devices to shard the fast level over (None: the default device)."""
        return self.devices if len(self.devices) > 1 else None

    def share(self, count: int) -> list[int]:
        """Indices of the ``count`` jobs this process runs (``j % P``)."""
        return list(range(self.process_index, count, self.process_count))

    def map_jobs(
        self,
        fn: Callable[[Any, jax.Device | None], dict[str, Any]],
        jobs: Sequence[Any],
        check: str = "",
    ) -> list[dict[str, Any]]:
        """``fn(job, device)`` for every job, over all devices and processes.

        This process runs its share (:meth:`share`), its k-th job on local
        device ``k % D``, one thread per device (none with one device, and
        then ``device`` is None: the default device). Results must be JSON
        records; they are gathered from every process. ``check`` (e.g. the
        jobs' names) must be the same on every process; a difference ends
        the run (the processes would otherwise drift apart).

        Returns:
          The results in job order (the same list on every process).

        Raises:
          DistributedError: another process was lost before sending its share.
        """
        mine = self.share(len(jobs))
        local: dict[int, dict[str, Any]] = {}
        if len(self.devices) == 1:
            for j in mine:
                local[j] = fn(jobs[j], None)
        elif mine:
            count = len(self.devices)
            per_device = [mine[d::count] for d in range(count)]

            stop = threading.Event()  # set on an error or Ctrl-C: start no more

            def worker(d: int) -> dict[int, dict[str, Any]]:
                out = {}
                for j in per_device[d]:
                    if stop.is_set():
                        break
                    try:
                        out[j] = fn(jobs[j], self.devices[d])
                    except BaseException:
                        stop.set()
                        raise
                return out

            pool = futures.ThreadPoolExecutor(count, "child-trainer")
            try:
                for part in pool.map(worker, range(count)):
                    local.update(part)
            finally:
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
        everyone = self.gather(local, check)
        return [everyone[j] for j in range(len(jobs))]

    def map_process_jobs(
        self,
        fn: Callable[[Any, tuple[jax.Device, ...] | None], dict[str, Any]],
        jobs: Sequence[Any],
        check: str = "",
    ) -> list[dict[str, Any]]:
        """``fn(job, devices)`` for every job, over all processes, each job on
        all of its process's local devices at once.

        This process runs its share (:meth:`share`) one job after another
        with ``devices`` = its local devices (None with one device: the
        default device); results are gathered as in :meth:`map_jobs`.

        Returns:
          The results in job order (the same list on every process).

        Raises:
          DistributedError: another process was lost before sending its share.
        """
        devices = self.devices if len(self.devices) > 1 else None
        local = {j: fn(jobs[j], devices) for j in self.share(len(jobs))}
        everyone = self.gather(local, check)
        return [everyone[j] for j in range(len(jobs))]

    def gather(self, local: dict[int, Any], check: str = "") -> dict[int, Any]:
        """The union of every process's ``{index: JSON value}`` records.

        Raises:
          DistributedError: a process was lost or failed, or its ``check``
            differs from this process's.
        """
        if self.process_count == 1:
            return dict(local)
        seq = coordination.next_sequence()
        client = coordination.client_handle()
        client.key_value_set(
            f"{coordination.KEY_PREFIX}/gather/{seq}/{self.process_index}",
            json.dumps(
                {"check": check, "values": {str(k): v for k, v in local.items()}}
            ),
        )
        out: dict[int, Any] = {}
        for p in range(self.process_count):
            if p == self.process_index:
                out.update(local)
                continue
            got = json.loads(
                self._wait(f"{coordination.KEY_PREFIX}/gather/{seq}/{p}", p)
            )
            if got["check"] != check:
                raise coordination.DistributedError(
                    f"process {p} and process {self.process_index} disagree on "
                    f"the work of an exchange ({got['check'][:120]!r} vs "
                    f"{check[:120]!r}); every process must run the same version "
                    "of cosearch and JAX on the same kind of device"
                )
            out.update({int(k): v for k, v in got["values"].items()})
        return out

    def agree(self, value: Any) -> Any:
        """Process 0's JSON ``value`` on every process (e.g. whether to stop:
        clocks and budgets must not make processes diverge)."""
        if self.process_count == 1:
            return value
        mine = json.dumps(value).encode() if self.writer else None
        return json.loads(self.broadcast(mine))

    def abort(self, message: str) -> None:
        """Tell the other processes that this one fails with ``message``.

        Their next (or current) wait ends with :class:`DistributedError`
        carrying it. Process 0, which hosts the coordination service, stays
        up a few seconds so that the others can read it.
        """
        if self.process_count == 1:
            return
        try:
            coordination.client_handle().key_value_set(
                f"{coordination.KEY_PREFIX}/abort",
                f"process {self.process_index} failed: {message}",
                allow_overwrite=True,
            )
        except Exception:  # the service is gone: the others will see that
            return
        if self.writer:
            time.sleep(2 * coordination.POLL_MS / 1000 + 1)

    def broadcast(self, payload: bytes | None) -> bytes:
        """Process 0's ``payload`` on every process (others pass None)."""
        if self.process_count == 1:
            return payload
        seq = coordination.next_sequence()
        key = f"{coordination.KEY_PREFIX}/broadcast/{seq}"
        if self.writer:
            coordination.client_handle().key_value_set_bytes(key, payload)
            return payload
        return self._wait(key, 0, as_bytes=True)

    def finish(self) -> None:
        """End of a multi-process search, so that no process exits early.

        Process 0 hosts the coordination service and the values stored in
        it. Every process marks that it has read all it needs and waits for
        the others' marks; then each other process says goodbye and
        disconnects, and process 0 returns
        :data:`cosearch.runtime.coordination.GOODBYE_S` seconds after the last
        goodbye (time for their disconnects to reach it).
        """
        if self.process_count == 1:
            return
        seq = coordination.next_sequence()
        client = coordination.client_handle()
        me = self.process_index
        client.key_value_set(f"{coordination.KEY_PREFIX}/done/{seq}/{me}", "1")
        for p in range(self.process_count):
            if p != me:
                self._wait(f"{coordination.KEY_PREFIX}/done/{seq}/{p}", p)
        if not self.writer:
            client.key_value_set(f"{coordination.KEY_PREFIX}/bye/{seq}/{me}", "1")
            coordination.HEARTBEAT.stop()
            jax.distributed.shutdown()
            return
        for p in range(1, self.process_count):
            self._wait(f"{coordination.KEY_PREFIX}/bye/{seq}/{p}", p)
        time.sleep(coordination.GOODBYE_S)

    def _wait(self, key: str, source: int, as_bytes: bool = False):
        """The value of ``key`` once process ``source`` has set it
        (:func:`cosearch.runtime.coordination.wait`)."""
        return coordination.wait(
            key, source, self.process_index, self.process_count, as_bytes
        )
