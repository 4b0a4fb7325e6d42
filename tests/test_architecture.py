"""The house as files and imports: packages follow the data flow, imports point one way.

cli → demo → daemon → ingest, answers → pipeline → store → stages (reader, detection,
provenance) → the foundation (model, errors, config …, the modules at the top of `tracker/`).
A module may import its own package and any package below it, never one above; and no
module imports itself back through others (no circle). Imports under `TYPE_CHECKING` are
not edges: they name types for the checker and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
# Lower number = lower in the house. The foundation is the modules directly in tracker/.
RANKS = {
    "": 0, "config": 0,
    "reader": 1, "detection": 1, "provenance": 1,
    "store": 2,
    "pipeline": 3,
    "ingest": 4, "answers": 4,
    "daemon": 5,
    "demo": 6,
    "cli": 7,
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        name = ".".join(rel.parts).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


def _runtime_imports(name: str, path: Path) -> set[str]:
    """The tracker modules `name` imports when it runs (not those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _runtime_imports(name, path) for name, path in MODULES.items()}


def _package(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


def test_every_package_has_a_rank() -> None:
    """A new package must say where it stands in the house."""
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANKS), f"give these packages a rank in RANKS: {sorted(packages - set(RANKS))}"


def test_imports_point_down() -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name != "tracker.__main__"
        for target in targets
        if RANKS[_package(target)] > RANKS[_package(name)]
    ]
    assert not upward, "imports against the data flow:\n" + "\n".join(sorted(upward))


def test_no_import_circle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                circles.append(" → ".join([*stack[stack.index(target):], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines; split it by job (at most {MAX_MODULE_LINES})"


def test_functions_are_short() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(sorted(long))


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checks above can fail: an upward import and a circle are found in a made-up house."""
    global GRAPH
    saved = GRAPH
    try:
        GRAPH = {"tracker.reader.parse": {"tracker.pipeline.capture"}, "tracker.pipeline.capture": {"tracker.reader.parse"}}
        with pytest.raises(AssertionError, match="against the data flow"):
            test_imports_point_down()
        with pytest.raises(AssertionError, match="import circles"):
            test_no_import_circle()
    finally:
        GRAPH = saved


def misplaced_tests(tests: Path, packages: set[str]) -> list[str]:
    """The test files of `tests` that lie neither in it nor in a folder named after a package.

    Tests mirror the package: a test of `tracker/store/` lives in `tests/store/`; tests of the
    whole product and of the modules at the top of `tracker/` lie in `tests/` itself.
    """
    return sorted(
        str(path.relative_to(tests.parent))
        for path in tests.rglob("test_*.py")
        if path.parent != tests and (path.parent.parent != tests or path.parent.name not in packages)
    )


def test_tests_mirror_the_package() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    misplaced = misplaced_tests(Path(__file__).resolve().parent, packages)
    assert not misplaced, "tests in a folder that is no package of tracker/ (move each beside what it tests):\n" + "\n".join(misplaced)


def test_a_test_outside_the_mirror_is_found(tmp_path: Path) -> None:
    """The check above can fail: a folder no package is named after, and one too deep, are found."""
    for name in ("test_top.py", "store/test_views.py", "stores/test_views.py", "store/views/test_views.py", "fixtures/test_x.py"):
        (tmp_path / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tests" / name).touch()
    assert misplaced_tests(tmp_path / "tests", {"store"}) == [
        "tests/fixtures/test_x.py", "tests/store/views/test_views.py", "tests/stores/test_views.py",
    ]


def house_drawing() -> str:
    """The packages and whom each imports, one line each, in the order of the house (top first)."""
    edges: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        if name == "tracker.__main__":
            continue
        here = _package(name) or "foundation"
        edges.setdefault(here, set())
        edges[here] |= {_package(t) or "foundation" for t in targets} - {here}
    rank = {**RANKS, "foundation": 0}
    order = sorted(edges, key=lambda p: (-rank[p], p))
    return "\n".join(f"{p:<11}→ {', '.join(sorted(edges[p], key=lambda q: (-rank[q], q))) or '(nothing)'}" for p in order)


def test_the_drawing_in_the_docs_is_the_house() -> None:
    """docs/layout.md draws the house as the imports have it (so the drawing cannot drift)."""
    text = (PACKAGE.parent / "docs" / "layout.md").read_text(encoding="utf-8")
    drawn = text.split("<!-- house: begin -->\n```text\n", 1)[1].split("\n```\n<!-- house: end -->", 1)[0]
    assert drawn == house_drawing(), "update docs/layout.md's drawing to:\n" + house_drawing()
