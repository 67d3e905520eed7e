"""Planner statistics follow the data: a database created empty and grown by the app."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from collector.bench.dataset import write_dataset
from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.repositories.contracts import CONTRACTS, Sample, check_contract, sample_from
from collector.schema import statistics
from collector.schema.reconcile import refresh_statistics
from tests.conftest import LARGE_JOBS, beside, copy_database, dataset_database, raw

pytestmark = pytest.mark.both_engines

ACTIVE_CONTRACTS = ("JobRepository.get_active_jobs", "JobRepository.page(active, cursor)")
# And a file search with a type: without statistics SQLite walks the type index from
# the cursor, probing the matching jobs' ids, where the index by job reads their files.
TYPE_WALK = ("FileRepository.page(q, file_type, cursor)",)


@pytest.mark.parametrize(
    ("rows", "analyzed", "stale"),
    [
        (0, None, False),  # empty and never analyzed: nothing to learn
        (1, None, True),
        (5, 0, True),
        (0, 0, False),
        (199, 100, False),
        (200, 100, True),  # doubled
        (51, 100, False),
        (50, 100, True),  # halved
    ],
)
def test_stale_when_size_moved_twofold(rows: int, analyzed: int | None, stale: bool) -> None:
    assert statistics.TableStats("jobs", rows, analyzed).stale is stale


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 jobs written into a database whose schema was built while it was empty."""
    return dataset_database(tmp_path_factory.mktemp("grown") / "grown.db", 3, analyze=False)


@pytest.fixture
def grown_db(engine: str, request: pytest.FixtureRequest, tmp_path: Path):
    """The grown database on the test's engine: a copy of ``grown`` on SQLite; on
    PostgreSQL the same dataset written into the test's schema after the schema was
    built empty, with autovacuum off on its tables (the server would otherwise analyze
    them on its own schedule, and the test is of what collector does)."""
    if engine == "sqlite":
        config = DatabaseConfig(
            copy_database(request.getfixturevalue("grown"), tmp_path / "copy.db")
        )
    else:
        config = DatabaseConfig(request.getfixturevalue("pg_schema_url"))
        config.initialize_schema()
        with config.transaction() as conn:
            for table in ("jobs", "files"):
                conn.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
        write_dataset(config, LARGE_JOBS, files_per_job=3, mix="realistic", seed=3)
    yield config
    config.dispose()


def broken(config: DatabaseConfig) -> dict[str, list[str]]:
    sample = sample_from(config)
    found = {}
    for contract in CONTRACTS:
        problems = [p for c in check_contract(config, contract, sample) for p in c.problems]
        if problems:
            found[contract.name] = problems
    return found


@pytest.mark.sqlite_only
def assert_contracts_hold(config: DatabaseConfig) -> None:
    """Every query contract holds. The contracts name SQLite's plans and indexes
    (sqlite_autoindex_*, temp B-trees): on PostgreSQL the sample is still taken (it must
    work there), the plans are not judged."""
    sample = sample_from(config)
    assert sample != Sample() and sample.cursor != Sample().cursor
    if config.dialect.name == "sqlite":
        assert broken(config) == {}


def test_without_statistics_the_active_lists_sort(grown: Path, tmp_path: Path) -> None:
    """Why the refresh exists: SQLite guesses wrong for the rare active statuses (the
    plans checked are SQLite's)."""
    config = DatabaseConfig(copy_database(grown, tmp_path / "copy.db"))
    with closing(raw(config.db_path)) as conn:
        assert statistics.table_stats(conn, "jobs") == ("jobs", 20_000, None)
    found = broken(config)
    assert sorted(found) == sorted(ACTIVE_CONTRACTS + TYPE_WALK)
    assert all(any("temporary sort" in p for p in found[name]) for name in ACTIVE_CONTRACTS)
    assert all(any("expected index" in p for p in found[name]) for name in TYPE_WALK)
    config.close()


def test_refresh_analyzes_grown_tables_and_every_contract_holds(grown_db: DatabaseConfig) -> None:
    config = grown_db

    assert refresh_statistics(config, ALL_MODELS) == ["jobs", "files"]

    with beside(config) as conn:
        assert statistics.table_stats(conn, "jobs") == ("jobs", 20_000, 20_000)
        assert statistics.stale_tables(conn, ALL_MODELS) == []
    assert_contracts_hold(config)
    assert refresh_statistics(config, ALL_MODELS) == []
    config.close()


def test_restart_refreshes_statistics_once(grown_db: DatabaseConfig) -> None:
    config = grown_db

    first = config.initialize_schema()
    second = config.initialize_schema()

    assert [(c.action, c.table, c.detail) for c in first.changes] == [
        ("analyze", "jobs", "stale"),
        ("analyze", "files", "stale"),
    ]
    assert second.changes == []
    assert_contracts_hold(config)
    config.close()


def test_worker_refreshes_statistics_of_a_grown_database(grown_db: DatabaseConfig) -> None:
    from collector.worker import Worker

    config = grown_db
    # Only finished jobs: the worker has nothing to claim, only its upkeep to do.
    with config.transaction() as conn:
        conn.execute("UPDATE jobs SET status = 'completed' WHERE status <> 'completed'")
    worker = Worker(config, name="stats-test")

    assert worker.work_once("stats-test/0") is False

    with beside(config) as conn:
        assert statistics.stale_tables(conn, ALL_MODELS) == []
        assert statistics.table_stats(conn, "jobs").analyzed == 20_000
    config.close()
