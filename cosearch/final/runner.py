"""Final training of a search's designs: train what is missing, keep it.

:func:`finalize` takes the designs a user would take from a search (OptSW,
OptHW, then the Pareto front; :func:`cosearch.final.results.picks`), trains
each of their architectures with the final budget over the final seeds on
the training and validation images, scores it on the test split, and saves
the weights and a record of every run (:class:`FinalStore`). Runs already
in the store with the same settings are not trained again, so an
interrupted final training resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections.abc import Callable, Collection, Sequence
from concurrent import futures
from typing import Any, NamedTuple

import numpy as np

from cosearch.child.train_steps import TrainResult
from cosearch.data import Dataset
from cosearch.final.results import FinalAccuracy, aggregate, picks
from cosearch.final.settings import FinalSettings, final_key, final_task
from cosearch.final.store import FinalStore, fingerprint
from cosearch.hardware.architecture import Architecture


class FinalOutcome(NamedTuple):
    """What a final training measured.

    Attributes:
      picks: (role, pair record) of the finalized designs, in order.
      finals: final test accuracy by architecture (every seed measured).
      settings: the final-training settings and data sizes (JSON).
      settings_id: their fingerprint (names the weights' folder).
      margin: the tie margin of two final accuracies (fraction).
      trained: runs trained by this call (the rest were in the store).
    """

    picks: list[tuple[str, dict[str, Any]]]
    finals: dict[str, FinalAccuracy]
    settings: dict[str, Any]
    settings_id: str
    margin: float
    trained: int


def settings_record(final: FinalSettings, dataset: Dataset) -> dict[str, Any]:
    """What a final run depends on besides its architecture and seed."""
    images = len(dataset.train) + len(dataset.val)  # what final_task trains on
    return {
        "train": dataclasses.asdict(final.train),
        "steps": final.train.total_steps(images),
        "data": dataset.name,
        "train_images": images,
        "test_images": len(dataset.test),
        "input_shape": list(dataset.input_shape),
    }


def settings_id(final: FinalSettings, dataset: Dataset) -> str:
    """The fingerprint of :func:`settings_record` (names the weights' folder;
    a run is reused only at the same one)."""
    return fingerprint(settings_record(final, dataset))


def _eta(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def time_left(
    starts: Sequence[float | None], wall: float, workers: int, now: float
) -> float:
    """Seconds until the runs left end: those started (``starts``, in run
    order, None for a run not started) end ``wall`` after their start, the
    others take ``wall`` each on the first of ``workers`` free slots."""
    slots = sorted(max(t + wall, now) for t in starts if t is not None)
    slots = (slots + [now] * workers)[:workers]
    heapq.heapify(slots)
    end = max(slots) if starts else now
    for t in starts:
        if t is None:
            finish = heapq.heappop(slots) + wall
            heapq.heappush(slots, finish)
            end = max(end, finish)
    return end - now


def finalize(
    final: FinalSettings,
    dataset: Dataset,
    store: FinalStore,
    designs: Sequence[tuple[str, dict[str, Any]]],
    trainer: Any,
    log: Callable[[str], None] = print,
    after_run: Callable[[], None] | None = None,
    done: Collection[tuple[str, int]] = (),
) -> FinalOutcome:
    """Final-train the architectures of ``designs`` that the store lacks.

    Args:
      final: the final budget, seeds and tie noise.
      dataset: the search's data set (its test split is read here).
      store: where runs and weights are kept.
      designs: (role, pair record) to finalize, e.g. from
        :func:`cosearch.final.results.picks`.
      trainer: a :class:`cosearch.child.train.Trainer`.
      log: progress lines.
      after_run: called after each run is saved (e.g. to rewrite a summary
        file, so that an interrupted training leaves it current).
      done: (architecture, seed) runs measured elsewhere (a reference set's
        file), not trained again.

    Returns:
      The :class:`FinalOutcome`.
    """
    settings = settings_record(final, dataset)
    run_id = settings_id(final, dataset)
    archs: list[str] = []
    for _, pair in designs:
        if pair["architecture"] not in archs:
            archs.append(pair["architecture"])
    done = {(a, int(s)) for a, s in done}
    done |= {(r["architecture"], int(r["seed"])) for r in store.runs(run_id)}
    wanted = [(a, s) for a in archs for s in range(final.seeds)]
    todo = [run for run in wanted if run not in done]
    if todo:
        log(
            f"final training: {len(todo)} run(s) of {settings['steps']} steps "
            f"({len(archs)} architecture(s) x {final.seeds} seeds; "
            f"{len(wanted) - len(todo)} done before) on "
            f"{settings['train_images']:,} images, scored on "
            f"{settings['test_images']:,} test images"
        )
    task = final_task(dataset) if todo else None
    workers = max(1, min(final.parallel_runs, len(todo)))
    started: dict[tuple[str, int], float] = {}  # run -> when it started
    walls: list[float] = []
    saved = 0

    def train(run: tuple[str, int]) -> TrainResult:
        started[run] = time.perf_counter()
        arch, seed = run
        return trainer.train(
            Architecture.parse(arch),
            task,
            final.train,
            final_key(seed),
            keep_variables=True,
        )

    def save(run: tuple[str, int], res: TrainResult, eta: bool = True) -> None:
        nonlocal saved
        arch, seed = run
        losses = res.loss_curve
        record = {
            "architecture": arch,
            "seed": seed,
            "settings_id": run_id,
            "test_accuracy": res.val_accuracy,
            "failed": res.failed,
            "reason": res.reason,
            "final_loss": float(np.mean(losses[-10:])) if losses else None,
            "steps": res.steps,
            "timing": {"wall_s": res.wall_s, "compile_s": res.compile_s},
        }
        store.save(record, res.variables)
        saved += 1
        walls.append(res.wall_s)
        left = time_left(
            [started.get(r) for r in todo[saved:]],
            float(np.median(walls)),
            workers,
            time.perf_counter(),
        )
        status = (
            f"failed ({res.reason})"
            if res.failed
            else (f"test {100 * res.val_accuracy:.2f}%")
        )
        log(
            f"final {saved}/{len(todo)}: {arch} seed {seed}: {status} "
            f"({res.wall_s:.0f} s)" + (f" | ETA {_eta(left)}" if eta else "")
        )
        if after_run is not None:
            after_run()

    if workers == 1:
        for run in todo:
            save(run, train(run))
    else:
        # Runs in threads (JAX releases the GIL while it computes), saved
        # in order as they end; the results do not depend on the threads.
        pool = futures.ThreadPoolExecutor(workers, "final-run")
        jobs = [pool.submit(train, run) for run in todo]
        try:
            for run, job in zip(todo, jobs, strict=True):
                save(run, job.result())
        except KeyboardInterrupt:
            # Keep what is nearly done: the runs in flight end and are saved.
            for job in jobs:
                job.cancel()  # those not started; the others go on
            log("interrupted: saving the final runs in flight before stopping")
            left = list(zip(todo[saved:], jobs[saved:], strict=True))
            for run, job in left:
                if job.cancelled():
                    continue
                # Each saved as it ends, in order (a second Ctrl-C here keeps
                # those saved; the threads still end before the process
                # exits, their runs lost). A run that raised is said and
                # skipped, not the runs after it.
                futures.wait([job])
                if job.exception() is None:
                    save(run, job.result(), eta=False)
                else:
                    arch, seed = run
                    failure = job.exception()
                    log(f"final run {arch} seed {seed} not kept: {failure!r}")
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    finals = aggregate(store.runs(run_id), seeds=final.seeds)
    return FinalOutcome(
        picks=list(designs),
        finals={a: finals[a] for a in archs if a in finals},
        settings=settings,
        settings_id=run_id,
        margin=final.margin,
        trained=len(todo),
    )


def plan(
    final: FinalSettings,
    opt_sw: dict[str, Any] | None,
    opt_hw: dict[str, Any] | None,
    front: Sequence[dict[str, Any]],
    max_designs: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The designs to finalize: :func:`picks` with ``final.max_designs``
    (or ``max_designs`` when given)."""
    count = final.max_designs if max_designs is None else max_designs
    return picks(opt_sw, opt_hw, front, count)
