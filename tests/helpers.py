"""Helpers shared by test modules (no test module imports another)."""

import os

from cosearch.files.jsonl import read_jsonl
from cosearch.results.records import without_timing


def quiet(_: str) -> None:
    """A search's ``log`` that prints nothing."""


def history(workdir, keep_timing: bool = False) -> list[dict]:
    """A run's history.jsonl records (without the machine-dependent timings
    unless ``keep_timing``)."""
    records = read_jsonl(os.path.join(workdir, "history.jsonl"))
    return records if keep_timing else [without_timing(r) for r in records]


def damage_checkpoint(folder) -> None:
    """Overwrite the manifests and metadata of every orbax checkpoint under
    ``folder`` with garbage (the arrays stay)."""
    for root, _, files in os.walk(folder):
        for name in files:
            if "manifest" in name or name == "_METADATA":
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"\0garbage")
