"""A search workdir's designs and the final-training weights of their networks."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from cosearch.final.store import FinalStore
from cosearch.hardware.architecture import Architecture
from cosearch.hardware.devices import HardwareConfigError, read_json_file
from cosearch.hls.design import HlsDesignError

BEST_FILE = "best_designs.json"
PARETO_FILE = "pareto.json"
NAMED = ("OptSW", "OptHW")


class HlsSourceError(HlsDesignError):
    """A design or weights a workdir does not have."""


def _read_json(path: str, what: str) -> Any:
    """``read_json_file``'s parse, its one-line error as an HlsSourceError."""
    try:
        return read_json_file(path, what)
    except HardwareConfigError as e:
        raise HlsSourceError(str(e)) from None


def design_entry(workdir: str, choice: str) -> tuple[dict[str, Any], str]:
    """The design ``choice`` names, and a label of where it came from.

    Args:
      workdir: the search's output folder.
      choice: "OptSW", "OptHW", an index into pareto.json's front, or the
        path of a JSON file holding one design entry.

    Raises:
      HlsSourceError: no such design, or a file that is not valid JSON.
    """
    if choice in NAMED:
        best = _read_json(os.path.join(workdir, BEST_FILE), "--workdir")
        entry = best.get(choice) if isinstance(best, dict) else None
        if not entry:
            raise HlsSourceError(
                f"{BEST_FILE} has no {choice} (no design met the specs)"
            )
        return entry, choice
    if choice.lstrip("-").isdigit():
        front = _read_json(os.path.join(workdir, PARETO_FILE), "--workdir")
        designs = front.get("front", []) if isinstance(front, dict) else []
        index = int(choice)
        if not 0 <= index < len(designs):
            raise HlsSourceError(
                f"--design={choice}: the Pareto front has {len(designs)} designs "
                f"(indices 0..{len(designs) - 1})"
            )
        return designs[index], f"pareto[{index}]"
    if os.path.isfile(choice):
        return _read_json(choice, "--design"), os.path.abspath(choice)
    raise HlsSourceError(
        f"--design={choice}: expected OptSW, OptHW, a Pareto-front index or a "
        "design JSON file"
    )


class Weights(NamedTuple):
    """Trained weights of one architecture from a run's final store.

    Attributes:
      variables: ``{"params", "batch_stats"}`` (NumPy).
      record: the final-training record (seed, settings_id, test_accuracy).
    """

    variables: dict[str, Any]
    record: dict[str, Any]


def final_weights(workdir: str, architecture: Architecture) -> Weights:
    """The final-training weights of ``architecture``: seed 0's run, else the
    first run with weights on disk (the latest record of that seed).

    Raises:
      HlsSourceError: the architecture was never finalized.
      FinalStoreError: its weights are missing or corrupt.
    """
    store = FinalStore(workdir)
    name = str(architecture)
    runs = [
        r
        for r in store.runs()
        if r.get("architecture") == name
        and not r.get("failed")
        and store.has_weights(r)
    ]
    if not runs:
        raise HlsSourceError(
            f"architecture {name} has no final-training weights in {workdir}; "
            f"run: python -m experiments.finalize --workdir={workdir}"
        )
    seeds = sorted({int(r["seed"]) for r in runs})
    seed = 0 if 0 in seeds else seeds[0]
    record = [r for r in runs if int(r["seed"]) == seed][-1]
    return Weights(store.load(record), record)
