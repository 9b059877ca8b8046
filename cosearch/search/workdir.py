"""A search's workdir: made and checked before a run, and locked for its
length, so that two searches never write one workdir."""

from __future__ import annotations

import fcntl
import os
import tempfile

from cosearch.search.config_checks import SearchConfigError

LOCK_FILE = ".lock"


class WorkdirBusyError(SearchConfigError):
    """Another search holds the workdir."""


def check_workdir(workdir: str) -> None:
    """Create ``workdir`` if needed and check that it is writable.

    Raises:
      SearchConfigError: it cannot be created or written.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise SearchConfigError(f"workdir {workdir}: cannot create it ({e})") from None
    try:
        # A probe of its own: two processes checking one folder (two
        # comparisons keeping runs in one archive) do not remove each
        # other's.
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise SearchConfigError(f"workdir {workdir} is not writable ({e})") from None


class WorkdirLock:
    """An exclusive lock on a workdir for the length of a run.

    ``fcntl.flock`` on ``workdir/.lock``: the operating system drops it when
    the process ends, however it ends, so a crash never leaves a stale lock.
    A second run on the same workdir is refused in one line instead of
    interleaving its records and checkpoints with the first one's.
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self.fd: int | None = None

    def __enter__(self) -> WorkdirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WorkdirBusyError(
                f"{os.path.dirname(self.path)} is in use by another search "
                f"(process {holder}); wait for it to end, or choose another --workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
