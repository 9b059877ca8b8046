"""Atomic writes (cosearch.files.atomic)."""

import os

from cosearch.files.atomic import atomic_write_json, atomic_write_text


def test_atomic_files_get_the_usual_mode(tmp_path):
    """Result files are readable like the logs beside them (0666 less the
    umask), not private like the temporary file they were written through."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.md", "x\n")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        with open(tmp_path / "c.jsonl", "w") as f:
            f.write("{}\n")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"a.md": 0o644, "b.json": 0o644, "c.jsonl": 0o644}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
