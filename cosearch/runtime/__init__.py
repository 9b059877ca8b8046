"""How the library's programs are compiled and kept between processes.

- ``compile_cache``: JAX's persistent compilation cache in the user's cache
  folder (:func:`enable_compile_cache`), so that a resumed run, a second
  seed or another launcher loads the programs an earlier process compiled,
  and a count of what this process compiled (:func:`compile_counts`).
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
