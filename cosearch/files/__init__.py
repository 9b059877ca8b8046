"""What a run keeps on disk, written so that a crash loses nothing finished.

- ``atomic``: atomic file writes (a reader never sees a half-written file);
- ``jsonl``: JSON-lines logs (metrics.jsonl, history.jsonl), cut back to a
  checkpoint's byte position on resume;
- ``checkpoint``: orbax checkpoints (array state plus a JSON record).

Imports ``errors`` only.
"""
