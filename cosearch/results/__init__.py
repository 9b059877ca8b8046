"""Results a person reads and compares (docs/design.md section 8).

- ``records``: one history record per evaluated (architecture, design)
  pair, and back;
- ``pareto``: Pareto fronts and hypervolume;
- ``stats``: rank agreement, seed noise, mean and spread;
- ``report``: best designs, the front, report.md and the JSON files;
- ``plots``: pareto.png, learning.png and the comparison figures.

Imports ``hardware``, ``files`` and ``errors`` only.
"""
