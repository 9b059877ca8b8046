"""Atomic file writes: a reader never sees a half-written result file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it
    (setting it to read it back would race with other threads' files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``.

    The file gets the mode a plain ``open(path, "w")`` would give it (0666
    less the umask), not the temporary file's private 0600.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(
    path: str | os.PathLike, obj: Any, indent: int | None = 2
) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def json_ready(tree: Any) -> Any:
    """``tree`` with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(tree, dict):
        return {k: json_ready(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [json_ready(v) for v in tree]
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree
