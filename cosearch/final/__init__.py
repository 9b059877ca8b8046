"""Final training of the designs a search finds, scored on the test split
(docs/design.md section 8.3).

- ``settings``: the final budget, seeds, tie noise and data
  (:class:`FinalSettings`, :func:`final_task`, :func:`final_key`,
  :func:`tie_margin`);
- ``results``: final accuracy by architecture, the designs picked, OptSW and
  OptHW chosen on final accuracy, ties in words;
- ``store``: the run records and trained weights in a workdir;
- ``runner``: final-train what the store lacks;
- ``phase``: a search's final phase and the results it rewrites;
- ``compare``: strategies compared on final accuracy.

Imports ``hardware``, ``data``, ``files``, ``child`` (the trainer),
``results`` (report, statistics) and ``errors``. Import ``phase`` and
``compare`` as submodules (the package exports only the settings, which
the search's setup reads).
"""

from cosearch.final.settings import (
    MIN_SEEDS,
    FinalSettings,
    final_key,
    final_task,
    tie_margin,
)

__all__ = ["FinalSettings", "MIN_SEEDS", "final_key", "final_task", "tie_margin"]
