"""JAX's persistent compilation cache, on by default for the launchers.

Every new child architecture compiles its training step and evaluation
(about 1.6-3 s each on a 2-core CPU, against ~20 s of proxy training), and
the controller, cost model and optimizer compile theirs in the first
episode. Without a persistent cache a resumed search, a second seed, a
comparison or a final training compiles all of them again. With it, a
program compiled once is loaded from disk (about 0.4 s instead of 3 s for a
child's step on this CPU; BUILD_NOTES.md, "Child training").

The folder is, in order: ``$COSEARCH_COMPILE_CACHE`` (``off`` turns the
cache off), JAX's own setting when the user made one
(``JAX_COMPILATION_CACHE_DIR``), else ``$XDG_CACHE_HOME/cosearch/jax``
(``~/.cache/cosearch/jax``). Every program is kept, however quick its
compile (JAX's default keeps only those over 1 s), and the programs in the
folder are bounded at :data:`MAX_CACHE_BYTES` with least-recently-used
eviction (each has an 8-byte access-time file beside it). A cached
program is the executable the compiler would build again: values do not
change. A folder that cannot be written is reported and skipped; a run never
fails because of its cache.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import NamedTuple

import jax
from jax import monitoring

CACHE_ENV = "COSEARCH_COMPILE_CACHE"
OFF = "off"

# Bound of the cache folder (least-recently-used entries go first). A default
# search writes about 6 MB (a child's programs are ~0.1 MB each).
MAX_CACHE_BYTES = 2 * 1024**3

# JAX's monitoring events: every compilation request that reaches the
# backend, and those answered from the persistent cache.
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_HIT_EVENT = "/jax/compilation_cache/cache_hits"


class CompileCounts(NamedTuple):
    """Programs this process asked the backend for since it started.

    Attributes:
      compiled: programs compiled here (not found in the persistent cache).
      loaded: programs loaded from the persistent cache.
      cache_dir: the cache folder ("" when the cache is off).
    """

    compiled: int
    loaded: int
    cache_dir: str


class _Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests = 0
        self.hits = 0
        self.registered = False

    def register(self) -> None:
        with self._lock:
            if self.registered:
                return
            self.registered = True
        monitoring.register_event_duration_secs_listener(self._on_duration)
        monitoring.register_event_listener(self._on_event)

    def _on_duration(self, event: str, duration: float, **kwargs) -> None:
        del duration, kwargs
        if event == _COMPILE_EVENT:
            with self._lock:
                self.requests += 1

    def _on_event(self, event: str, **kwargs) -> None:
        del kwargs
        if event == _HIT_EVENT:
            with self._lock:
                self.hits += 1


_COUNTER = _Counter()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cosearch/jax``, or ``~/.cache/cosearch/jax``."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(root) / "cosearch" / "jax"


def _writable(path: Path) -> str:
    """ "" if ``path`` is (or can be made) a writable folder, else why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"{e.strerror or e}"
    return ""


def enable_compile_cache(path: str | os.PathLike | None = None) -> str:
    """Turns JAX's persistent compilation cache on for this process (call it
    before the first compilation) and starts counting compilations.

    Args:
      path: the cache folder; None picks it as the module doc says.

    Returns:
      The folder in use, or "" when the cache is off (``COSEARCH_COMPILE_CACHE=
      off``) or its folder cannot be written (a warning says why).
    """
    _COUNTER.register()
    chosen = path if path is not None else os.environ.get(CACHE_ENV)
    if chosen is not None and not str(chosen).strip():
        chosen = None  # set but empty, as shells and CI files leave it: unset
    if chosen is not None and str(chosen).strip().lower() == OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return ""
    if chosen is None:
        chosen = jax.config.jax_compilation_cache_dir or default_cache_dir()
    folder = Path(chosen).expanduser()
    problem = _writable(folder)
    if problem:
        print(
            f"warning: compile cache {folder} not writable ({problem}); "
            f"programs are compiled in every run (set {CACHE_ENV}=DIR or off)",
            flush=True,
        )
        jax.config.update("jax_enable_compilation_cache", False)
        return ""
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
    return str(folder)


def compile_counts() -> CompileCounts:
    """What this process compiled and loaded since :func:`enable_compile_cache`
    (or since import, where the counter was registered first)."""
    _COUNTER.register()
    cache_dir = (
        jax.config.jax_compilation_cache_dir
        if jax.config.jax_enable_compilation_cache
        else None
    )
    return CompileCounts(
        compiled=_COUNTER.requests - _COUNTER.hits,
        loaded=_COUNTER.hits,
        cache_dir=str(cache_dir or ""),
    )
