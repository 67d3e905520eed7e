"""The engine seam: an engine's driver is imported by its dialect module alone."""

from __future__ import annotations

import ast
from pathlib import Path

import collector

PACKAGE = Path(collector.__file__).parent
# Each engine's driver, and the one module allowed to import it.
DRIVERS = {
    "sqlite3": "dialects/sqlite.py",
    "psycopg": "dialects/postgresql.py",
    "psycopg_pool": "dialects/postgresql.py",
}


def driver_imports(source: str) -> set[str]:
    """The drivers a module's source imports (anywhere in it, at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in DRIVERS)
    return found


def test_drivers_are_imported_only_by_their_dialect() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the walk really sees the package
    offenders = []
    for module in modules:
        relative = module.relative_to(PACKAGE).as_posix()
        for driver in driver_imports(module.read_text(encoding="utf-8")):
            if DRIVERS[driver] != relative:
                offenders.append(f"{relative} imports {driver}")
    assert offenders == []


def test_the_sqlite_dialect_is_where_sqlite3_is() -> None:
    assert driver_imports((PACKAGE / "dialects/sqlite.py").read_text()) == {"sqlite3"}


def test_the_check_sees_every_form_of_import() -> None:
    assert driver_imports("import sqlite3") == {"sqlite3"}
    assert driver_imports("from sqlite3 import Connection") == {"sqlite3"}
    assert driver_imports("def f():\n    import psycopg.rows\n") == {"psycopg"}
    assert driver_imports("import psycopg_pool as pool") == {"psycopg_pool"}
    assert driver_imports("from . import sqlite3") == set()  # a sibling module, not the driver
    assert driver_imports("import sqlite3x, json") == set()
