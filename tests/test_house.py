"""The house rules that a reader cannot see from one file: `tracker/store` owns every SQL statement.

Outside `tracker/store` no module may build or run SQL: no query builders imported from
SQLAlchemy (only `sqlalchemy.orm`'s session types, `sqlalchemy.exc`'s errors and
`sqlalchemy.engine`'s URL parsing), no ORM tables (`tracker.store.schema`), no
`execute`/`scalar` calls, and no SQL statement written in a string. A violation is
reported by file and line, so whoever adds one knows where it should move.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tracker"
STORE = PACKAGE / "store"

# What a module outside the store may take from SQLAlchemy: types and errors, never SQL.
_ALLOWED_SQLALCHEMY = {"sqlalchemy.orm": {"Session", "sessionmaker"}, "sqlalchemy.exc": None, "sqlalchemy.engine": {"make_url", "URL"}}
_RUNS_SQL = {"execute", "executemany", "exec_driver_sql", "scalar", "scalars", "scalar_one", "execution_options"}
# A statement as SQL is written here (upper-case keywords), not English that happens to say "select … from".
_SQL = re.compile(
    r"\b(SELECT\b[\s\S]+?\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|(CREATE|DROP)\s+(TABLE|INDEX|VIEW)|ALTER\s+TABLE"
    r"|PRAGMA\s+\w+|pg_advisory)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose about SQL is allowed)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def sql_outside_store(source: str) -> list[tuple[int, str]]:
    """(line, what) for every way `source` builds or runs SQL."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy.sql") or alias.name == "tracker.store.schema":
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if node.module == "tracker.store" and "schema" in names or node.module == "tracker.store.schema":
                found.append((node.lineno, f"from {node.module} import {', '.join(sorted(names))} (the ORM tables)"))
            elif node.module == "sqlalchemy" or node.module.startswith("sqlalchemy."):
                allowed = _ALLOWED_SQLALCHEMY.get(node.module, set())
                if allowed is not None and not names <= allowed:
                    found.append((node.lineno, f"from {node.module} import {', '.join(sorted(names - allowed))}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RUNS_SQL:
            found.append((node.lineno, f".{node.func.attr}(…) runs SQL"))
        elif isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in docstrings:
            match = _SQL.search(_text(node))
            if match:
                found.append((node.lineno, f"SQL in a string: {match.group(0)[:40]!r}"))
    return sorted(set(found))


def _text(node: ast.Constant | ast.JoinedStr) -> str:
    """A string's text; an f-string's with each placeholder as `x`."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    return "".join(_text(part) if isinstance(part, ast.Constant) else "x" for part in node.values)


def test_no_sql_outside_the_store() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted(PACKAGE.rglob("*.py")) if STORE not in path.parents
        for line, what in sql_outside_store(path.read_text(encoding="utf-8"))
    ]
    assert not offences, "SQL outside tracker/store (move it into a store function):\n" + "\n".join(offences)


@pytest.mark.parametrize("source", [
    "from sqlalchemy import select\n",
    "import sqlalchemy as sa\n",
    "from sqlalchemy.orm import Session, aliased\n",
    "from tracker.store import schema, views\n",
    "from tracker.store.schema import Feed\n",
    "def f(session):\n    return session.execute(query).all()\n",
    "def f(session):\n    return session.scalar(query)\n",
    "QUERY = 'SELECT id FROM feeds WHERE active'\n",
    "def f(table):\n    return f'UPDATE {table} SET active = 0'\n",
    "X = '''\n  DELETE FROM items\n'''\n",
])
def test_the_check_finds_each_way_of_writing_sql(source: str) -> None:
    assert sql_outside_store(source), source


@pytest.mark.parametrize("source", [
    "from sqlalchemy.orm import Session, sessionmaker\n",
    "from sqlalchemy.exc import OperationalError, SQLAlchemyError\n",
    "from sqlalchemy.engine import make_url\n",
    "from tracker.store import views\n",
    'def f():\n    """Select the feeds from the config; SELECT * FROM x in prose."""\n',
    "HELP = 'select the items from one publisher'\n",
])
def test_the_check_lets_types_errors_and_prose_through(source: str) -> None:
    assert sql_outside_store(source) == []
