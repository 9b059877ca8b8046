"""JSON-lines logs of a run (metrics.jsonl, history.jsonl).

Each record is written as one complete line in a single ``write`` and
flushed to disk, so a crash leaves at most a partial last line; a resumed run
cuts the file back to the byte position saved in its checkpoint, so the log
holds exactly the records of the episodes the checkpoint covers.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

from cosearch.errors import UserError


class LogError(UserError, ValueError):
    """A JSON-lines log that cannot be used: a line that is not a JSON record,
    or a file cut shorter than a checkpoint records."""


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, numpy scalars become Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json_line(record: dict[str, Any]) -> str:
    """One record as a JSON line (with the newline)."""
    return json.dumps(_clean(record), separators=(",", ":"), allow_nan=False) + "\n"


class JsonlWriter:
    """Appends records to a JSON-lines file.

    Args:
      path: the file (created with its folder if missing).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if not os.path.exists(self.path):
            open(self.path, "w").close()

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append ``records``, one line each, in one write, then fsync."""
        text = "".join(to_json_line(r) for r in records)
        if not text:
            return
        with open(self.path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def position(self) -> int:
        """Current size in bytes (saved in checkpoints)."""
        return os.path.getsize(self.path)

    def truncate(self, position: int) -> None:
        """Cut the file back to ``position`` bytes (the checkpoint's view)."""
        size = self.position()
        if position > size:
            raise LogError(
                f"{self.path} has {size} bytes but the checkpoint expects at least "
                f"{position}: the log was cut or replaced after the checkpoint"
            )
        with open(self.path, "r+") as f:
            f.truncate(position)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete records of a JSON-lines file (a partial last line is skipped).

    Raises:
      LogError: a complete line is not valid JSON (naming the file and line).
    """
    out = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith("\n"):
                break
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise LogError(
                    f"{os.fspath(path)} line {number} is damaged ({e.msg}); "
                    "move the file away or pass --fresh to start over"
                ) from None
    return out
