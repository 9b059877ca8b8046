"""Ctrl-C that library code cannot lose.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main
thread happens to be. Library code that catches everything (a bare
``except:``; jax 0.12's ``pxla`` has several around calls made while a
program is loaded) can swallow it, and a long run then ignores the user's
Ctrl-C. Inside :func:`remembered`, SIGINT still raises at once, and is also
remembered: :func:`check`, called at a safe point (the end of an episode),
raises it again if it was lost on the way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_requested = threading.Event()


def _on_sigint(signum, frame) -> None:
    del signum, frame
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt and is remembered for :func:`check`.

    Only in the main thread with Python's own SIGINT handler in place (a
    caller that installed its own keeps it); the previous handler is back
    on exit.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT came inside :func:`remembered`."""
    if _requested.is_set():
        raise KeyboardInterrupt
