"""Benchmarks: each writes one JSON document and measures its peer in the
same run (``python -m benchmarks.<name> --out=FILE``; ``--smoke`` for a quick
check). Run from the repository root; figures are kept in BUILD_NOTES.md."""

# The 6-layer design the warm-step benchmarks train ("k,f,s" per layer).
RELEASED_6 = "3,36,1;5,36,1;1,64,1;3,48,2;7,24,1;1,64,1"
