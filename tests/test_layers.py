"""Imports run one way: down the floors of ``cosearch.FLOORS``, no cycles.

Every import statement of every module under ``cosearch/`` is read from its
source (those inside functions and under ``if TYPE_CHECKING:`` included):
an import of a room on the same or a higher floor, an import cycle between
modules, and an import of a launcher package (``experiments``,
``benchmarks``, ``oracles``, ``tests``) are each reported with the file and
line of the statement. The checker is run on the package as it is, and on
copies with a wrong import written in, which it must catch.
"""

from __future__ import annotations

import ast
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import cosearch

PACKAGE_DIR = Path(cosearch.__file__).parent
LAUNCHERS = ("experiments", "benchmarks", "oracles", "scripts", "tests")


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = ("cosearch", *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(
    name: str, path: Path, modules: dict[str, Path]
) -> Iterator[tuple[int, str]]:
    """(line, imported module) of every import statement in ``path``; an
    imported name that is a submodule counts as that module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub in modules else target


# The package's own __init__ (``FLOORS``) sits on the bottom floor: any room
# may read it, and it may import nothing of the package.
ROOT = "__init__"


def _room(module: str) -> str:
    """``cosearch.hardware.x`` -> ``hardware``; ``cosearch.errors`` ->
    ``errors``; ``cosearch`` -> :data:`ROOT`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def violations(root: Path, floors=cosearch.FLOORS) -> list[str]:
    """Every upward or sideways import between rooms, every import of a
    launcher and every import cycle under ``root`` (a ``cosearch`` package
    folder), one line each, naming ``file:line``."""
    floor = {room: i for i, rooms in enumerate(floors) for room in rooms}
    floor[ROOT] = -1
    modules = _modules(root)
    problems = []
    edges: dict[str, dict[str, str]] = {m: {} for m in modules}
    for name, path in modules.items():
        where_from = _room(name)
        rel = path.relative_to(root.parent)
        for line, target in _imports(name, path, modules):
            top = target.split(".")[0]
            if top in LAUNCHERS:
                problems.append(
                    f"{rel}:{line}: imports {target}: the library never imports "
                    "a launcher"
                )
                continue
            if top != "cosearch" or target not in modules:
                continue
            edges[name].setdefault(target, f"{rel}:{line}")
            to = _room(target)
            if to == where_from:
                continue
            if where_from not in floor or to not in floor:
                unknown = where_from if where_from not in floor else to
                problems.append(
                    f"{rel}:{line}: room {unknown!r} is on no floor of cosearch.FLOORS"
                )
            elif floor[to] >= floor[where_from]:
                problems.append(
                    f"{rel}:{line}: imports {target} (room {to}, floor "
                    f"{floor[to]}) from room {where_from} (floor "
                    f"{floor[where_from]}): imports must go to a lower floor"
                )
    problems += _cycles(edges)
    return problems


def _cycles(edges: dict[str, dict[str, str]]) -> list[str]:
    """One line per import cycle: its modules and the statements that close
    it (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1 or v in edges[v]:
                inside = set(members)
                where = sorted(
                    f"{edges[a][b]} ({a} -> {b})"
                    for a in members
                    for b in edges[a]
                    if b in inside
                )
                out.append(
                    f"import cycle among {', '.join(sorted(members))}: "
                    + "; ".join(where)
                )

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_room_is_on_a_floor_once():
    rooms = [room for floor in cosearch.FLOORS for room in floor]
    assert len(rooms) == len(set(rooms))
    present = {
        p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file()
    } | {p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__"}
    assert present == set(rooms)


def test_imports_run_down_the_floors_without_cycles():
    assert violations(PACKAGE_DIR) == []


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "cosearch"
    shutil.copytree(PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _write_in(path: Path, after: str, text: str) -> int:
    """Insert ``text`` as a line after the first line starting with
    ``after``; returns its line number."""
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(after)) + 1
    lines.insert(at, text + "\n")
    path.write_text("".join(lines))
    return at + 1


@pytest.mark.parametrize(
    "statement",
    [
        "from cosearch.search import loop",  # the bottom imports the top
        "from cosearch.search.loop import run",
        "    from cosearch.child import conv",  # inside a block
    ],
)
def test_an_upward_import_is_caught_with_its_line(tmp_path, statement):
    root = _copy(tmp_path)
    target = root / "hardware" / "layer_model.py"
    if statement.startswith(" "):
        line = _write_in(target, "import jax.numpy", "if TYPE_CHECKING:\n" + statement)
        line += 1
    else:
        line = _write_in(target, "import jax.numpy", statement)
    found = violations(root)
    # An import of a room that imports hardware also closes a cycle.
    (upward,) = [p for p in found if not p.startswith("import cycle")]
    assert upward.startswith(f"cosearch{os.sep}hardware{os.sep}layer_model.py:{line}:")
    assert "must go to a lower floor" in upward
    for cycle in found[1:]:
        assert f"layer_model.py:{line} (cosearch.hardware.layer_model -> " in cycle


def test_a_sideways_import_between_rooms_of_one_floor_is_caught(tmp_path):
    root = _copy(tmp_path)
    line = _write_in(
        root / "hls" / "csim.py",
        "from cosearch.errors",
        "from cosearch.search import loop",
    )
    found = violations(root)
    assert len(found) == 1, found
    assert found[0].startswith(f"cosearch{os.sep}hls{os.sep}csim.py:{line}:")


def test_a_cycle_inside_a_room_is_caught_with_its_lines(tmp_path):
    root = _copy(tmp_path)
    line = _write_in(
        root / "hardware" / "geometry.py",
        "from __future__",
        "from cosearch.hardware import layer_model",
    )
    (found,) = violations(root)
    assert found.startswith("import cycle among cosearch.hardware.geometry, ")
    assert f"geometry.py:{line} (cosearch.hardware.geometry -> " in found
    assert "layer_model.py:" in found


def test_importing_a_launcher_is_caught(tmp_path):
    root = _copy(tmp_path)
    line = _write_in(
        root / "results" / "stats.py", "import numpy", "from experiments import common"
    )
    (found,) = violations(root)
    assert found.startswith(f"cosearch{os.sep}results{os.sep}stats.py:{line}:")
    assert "never imports a launcher" in found


def test_the_package_root_imports_nothing_of_the_package(tmp_path):
    root = _copy(tmp_path)
    line = _write_in(
        root / "__init__.py", "# The floors", "from cosearch import errors"
    )
    found = violations(root)
    assert any(
        p.startswith(f"cosearch{os.sep}__init__.py:{line}:") and "lower floor" in p
        for p in found
    ), found
    # Reading FLOORS from any room is allowed.
    _write_in(root / "hardware" / "geometry.py", "from __future__", "import cosearch")
    assert not [p for p in violations(root) if "geometry.py" in p]


def test_no_test_module_imports_another():
    """Shared test code lives in helper modules (tests/helpers.py,
    tests/launch.py, ...), never in a test module another one imports."""
    tests = Path(__file__).parent
    bad = []
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("tests.") and name.split(".")[-1].startswith(
                    "test_"
                ):
                    bad.append(
                        f"{path.relative_to(tests.parent)}:{node.lineno}: {name}"
                    )
    assert not bad, "test modules imported by others:\n" + "\n".join(bad)
