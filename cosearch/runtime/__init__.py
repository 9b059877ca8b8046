"""How and where the library's programs run: compiled once, kept between
processes, spread over devices and processes.

- ``compile_cache``: JAX's persistent compilation cache in the user's cache
  folder (:func:`enable_compile_cache`), so that a resumed run, a second
  seed or another launcher loads the programs an earlier process compiled,
  and a count of what this process compiled (:func:`compile_counts`);
- ``parallel``: :class:`parallel.Runtime`, the devices and processes a run
  uses, jobs dealt over them and records gathered;
- ``coordination``: joining a multi-process run, its key-value exchanges,
  heartbeats and lost processes;
- ``interrupts``: Ctrl-C remembered, so that library code that swallows a
  ``KeyboardInterrupt`` cannot make a run ignore it.

A bottom room: imports ``errors`` only.
"""

from cosearch.runtime.compile_cache import (
    CACHE_ENV,
    CompileCounts,
    compile_counts,
    default_cache_dir,
    enable_compile_cache,
)

__all__ = [
    "CACHE_ENV",
    "CompileCounts",
    "compile_counts",
    "default_cache_dir",
    "enable_compile_cache",
]
