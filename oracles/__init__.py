"""Independent implementations of the cost model, for checking it.

``reference.py`` scores one (architecture, design) pair at a time on Python
numbers (exact integers); ``cost_numpy.py`` is a NumPy peer of the batched
cost model. Both are written separately from the JAX code on purpose: the
tests and ``benchmarks.bench_fast_loop`` compare the library against them
value for value. Not part of the installed library (nothing in ``cosearch``
imports them); importable from the repository root.
"""
