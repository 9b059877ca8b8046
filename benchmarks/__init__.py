"""Benchmarks: each writes one JSON document and measures its peer in the
same run (``python -m benchmarks.<name> --out=FILE``; ``--smoke`` for a quick
check). Run from the repository root; figures are kept in BUILD_NOTES.md."""
