"""collector.schema.plans (EXPLAIN QUERY PLAN read structurally) and where_tokens."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from collector.dialects import SQLITE
from collector.models import Job
from collector.schema.introspect import where_tokens
from collector.schema.plans import PlanStep, explain, format_plan, plan_problems

parse_step = SQLITE.parse_plan_row


def step(detail: str, step_id: int = 2, parent: int = 0) -> PlanStep:
    return parse_step((step_id, parent, 0, detail))


class TestParseStep:
    @pytest.mark.parametrize("detail", ["SCAN TABLE jobs", "SCAN jobs"])
    def test_full_scan_both_spellings(self, detail: str) -> None:
        s = step(detail, 3, 1)
        assert (s.id, s.parent, s.detail) == (3, 1, detail)
        assert (s.op, s.table, s.index, s.covering) == ("SCAN", "jobs", None, False)
        assert s.full_scan
        assert not s.temp_sort

    @pytest.mark.parametrize(
        "detail",
        [
            "SEARCH TABLE files AS f USING INDEX idx_files_job_id (job_id=?)",
            "SEARCH f USING INDEX idx_files_job_id (job_id=?)",
        ],
    )
    def test_search_with_alias_both_spellings(self, detail: str) -> None:
        s = step(detail)
        assert (s.op, s.table, s.index, s.covering) == ("SEARCH", "f", "idx_files_job_id", False)
        assert not s.full_scan

    @pytest.mark.parametrize(
        "detail",
        [
            "SCAN TABLE jobs USING COVERING INDEX idx_jobs_status",
            "SCAN jobs USING COVERING INDEX idx_jobs_status",
        ],
    )
    def test_covering_index_scan(self, detail: str) -> None:
        s = step(detail)
        assert (s.op, s.table, s.index, s.covering) == ("SCAN", "jobs", "idx_jobs_status", True)
        assert not s.full_scan

    def test_index_scan_is_not_a_full_scan(self) -> None:
        s = step("SCAN jobs USING INDEX idx_jobs_created_at")
        assert (s.op, s.index, s.covering) == ("SCAN", "idx_jobs_created_at", False)
        assert not s.full_scan

    @pytest.mark.parametrize(
        "detail",
        [
            "SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)",
            "SEARCH TABLE jobs USING INTEGER PRIMARY KEY (rowid=?)",
            "SEARCH jobs USING PRIMARY KEY (id=?)",
        ],
    )
    def test_primary_key_search(self, detail: str) -> None:
        s = step(detail)
        assert (s.op, s.table, s.index, s.covering) == ("SEARCH", "jobs", "PRIMARY KEY", False)
        assert not s.full_scan

    def test_constant_row_is_not_a_full_scan(self) -> None:
        s = step("SCAN CONSTANT ROW")
        assert s.op == "SCAN"
        assert s.index is None
        assert not s.full_scan

    @pytest.mark.parametrize(
        "detail",
        [
            "USE TEMP B-TREE FOR ORDER BY",
            "USE TEMP B-TREE FOR GROUP BY",
            "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY",
            "USE TEMP B-TREE FOR LAST TERM OF ORDER BY",
        ],
    )
    def test_temp_sort(self, detail: str) -> None:
        s = step(detail)
        assert s.temp_sort
        assert (s.op, s.table, s.index) == (None, None, None)
        assert not s.full_scan

    def test_temp_b_tree_for_distinct_is_not_a_sort(self) -> None:
        assert not step("USE TEMP B-TREE FOR DISTINCT").temp_sort

    @pytest.mark.parametrize(
        "detail", ["LIST SUBQUERY 2", "MULTI-INDEX OR", "CORRELATED SCALAR SUBQUERY 1"]
    )
    def test_other_steps_have_no_op(self, detail: str) -> None:
        s = step(detail, 4, 2)
        assert s == PlanStep(4, 2, detail, None, None, None, False)
        assert not s.full_scan
        assert not s.temp_sort

    def test_detail_is_the_last_column(self) -> None:
        # sqlite3.Row-like sequences and plain tuples alike; ids become ints
        s = parse_step(("7", "3", 0, "SCAN jobs"))
        assert (s.id, s.parent) == (7, 3)


class TestPlanProblems:
    def test_clean_plan_has_no_problems(self) -> None:
        steps = [step("SEARCH jobs USING INDEX idx_jobs_status (status=?)")]
        assert plan_problems(steps, "idx_jobs_status") == []

    def test_missing_expected_index(self) -> None:
        steps = [step("SEARCH jobs USING INDEX idx_jobs_created_at (created_at>?)")]
        problems = plan_problems(steps, "idx_jobs_status")
        assert len(problems) == 1
        assert "expected index idx_jobs_status" in problems[0]
        assert "idx_jobs_created_at" in problems[0]

    def test_missing_expected_index_when_plan_uses_none(self) -> None:
        problems = plan_problems([step("SCAN CONSTANT ROW")], "idx_jobs_status")
        assert problems == ["expected index idx_jobs_status, plan uses none"]

    def test_any_of_several_indexes(self) -> None:
        steps = [step("SEARCH jobs USING INDEX idx_jobs_status_created (status=?)")]
        assert plan_problems(steps, ("idx_jobs_status", "idx_jobs_status_created")) == []
        assert plan_problems(steps, ("idx_jobs_status_created",)) == []
        assert plan_problems(steps, ("idx_jobs_status", "idx_jobs_created_at")) == [
            "expected index idx_jobs_status or idx_jobs_created_at, "
            "plan uses ['idx_jobs_status_created']"
        ]

    def test_no_index_expected(self) -> None:
        steps = [step("SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)")]
        assert plan_problems(steps, None) == []

    def test_full_scan(self) -> None:
        problems = plan_problems([step("SCAN jobs")], None)
        assert problems == ["full table scan: SCAN jobs"]

    def test_full_scan_of_small_table_is_allowed(self) -> None:
        assert plan_problems([step("SCAN settings")], None) == []

    def test_full_scan_reported_alongside_expected_index(self) -> None:
        steps = [
            step("SCAN TABLE jobs", 2),
            step("SEARCH f USING INDEX idx_files_job_id (job_id=?)", 4),
        ]
        problems = plan_problems(steps, "idx_files_job_id")
        assert problems == ["full table scan: SCAN TABLE jobs"]

    def test_temp_sort(self) -> None:
        steps = [
            step("SEARCH jobs USING INDEX idx_jobs_status (status=?)", 2),
            step("USE TEMP B-TREE FOR ORDER BY", 8),
        ]
        assert plan_problems(steps, "idx_jobs_status") == [
            "temporary sort: USE TEMP B-TREE FOR ORDER BY"
        ]
        assert plan_problems(steps, "idx_jobs_status", temp_sort_ok=True) == []

    def test_temp_sort_ok_does_not_excuse_a_full_scan(self) -> None:
        steps = [step("SCAN jobs", 2), step("USE TEMP B-TREE FOR ORDER BY", 8)]
        assert plan_problems(steps, None, temp_sort_ok=True) == ["full table scan: SCAN jobs"]


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute(Job.get_create_table_sql())
    yield connection
    connection.close()


class TestExplain:
    def test_without_and_with_index(self, conn: sqlite3.Connection) -> None:
        sql = "SELECT id, url FROM jobs WHERE status = ?"
        before = explain(conn, sql, ("pending",))
        assert [(s.op, s.table, s.index) for s in before] == [("SCAN", "jobs", None)]
        assert before[0].full_scan
        assert plan_problems(before, "idx_jobs_status") == [
            "expected index idx_jobs_status, plan uses none",
            f"full table scan: {before[0].detail}",
        ]

        conn.execute(Job.index("idx_jobs_status").create_sql())
        after = explain(conn, sql, ("pending",))
        assert [(s.op, s.table, s.index, s.covering) for s in after] == [
            ("SEARCH", "jobs", "idx_jobs_status", False)
        ]
        assert not after[0].full_scan
        assert plan_problems(after, "idx_jobs_status") == []

    def test_covering_index(self, conn: sqlite3.Connection) -> None:
        conn.execute(Job.index("idx_jobs_status").create_sql())
        steps = explain(conn, "SELECT status FROM jobs WHERE status = ?", ("failed",))
        assert [(s.op, s.index, s.covering) for s in steps] == [("SEARCH", "idx_jobs_status", True)]

    def test_temp_sort_and_its_removal(self, conn: sqlite3.Connection) -> None:
        sql = "SELECT id FROM jobs WHERE status = ? ORDER BY created_at DESC LIMIT 10"
        conn.execute(Job.index("idx_jobs_status").create_sql())
        steps = explain(conn, sql, ("failed",))
        assert any(s.temp_sort for s in steps)
        assert plan_problems(steps, "idx_jobs_status") == [
            "temporary sort: USE TEMP B-TREE FOR ORDER BY"
        ]

        conn.execute(Job.index("idx_jobs_status_created").create_sql())
        steps = explain(conn, sql, ("failed",))
        assert not any(s.temp_sort for s in steps)
        assert plan_problems(steps, "idx_jobs_status_created") == []

    def test_ids_and_parents_come_from_sqlite(self, conn: sqlite3.Connection) -> None:
        steps = explain(
            conn, "SELECT id FROM jobs WHERE status IN (SELECT status FROM jobs WHERE id = ?)", (1,)
        )
        ids = {s.id for s in steps}
        assert len(steps) >= 2
        assert all(s.parent == 0 or s.parent in ids for s in steps)
        assert any(s.parent != 0 for s in steps)


class TestFormatPlan:
    def test_indents_children(self) -> None:
        steps = [
            PlanStep(2, 0, "SCAN jobs", "SCAN", "jobs", None, False),
            PlanStep(4, 0, "LIST SUBQUERY 1", None, None, None, False),
            PlanStep(6, 4, "SCAN f", "SCAN", "f", None, False),
            PlanStep(9, 6, "USE TEMP B-TREE FOR ORDER BY", None, None, None, False),
            PlanStep(12, 0, "USE TEMP B-TREE FOR DISTINCT", None, None, None, False),
        ]
        assert format_plan(steps) == (
            "SCAN jobs\n"
            "LIST SUBQUERY 1\n"
            "  SCAN f\n"
            "    USE TEMP B-TREE FOR ORDER BY\n"
            "USE TEMP B-TREE FOR DISTINCT"
        )

    def test_empty(self) -> None:
        assert format_plan([]) == ""


class TestWhereTokens:
    def test_normalises_quoting_case_and_spacing(self) -> None:
        quoted = 'CREATE INDEX "i" ON "t" ("a" DESC) WHERE "status" IN (\'a\', \'b\')'
        plain = "create index i on t(a desc) where status in ('a','b')"
        assert where_tokens(quoted) == where_tokens(plain)
        assert where_tokens(plain) == ("status", "in", "(", "'a'", ",", "'b'", ")")

    @pytest.mark.parametrize(
        "sql",
        [
            "CREATE INDEX i ON t (a) WHERE `Status` = 'x'",
            "CREATE INDEX i ON t (a) WHERE [STATUS] = 'x'",
            "CREATE INDEX i ON t (a)\n  WHERE\tstatus='x'",
        ],
    )
    def test_other_identifier_quotes(self, sql: str) -> None:
        assert where_tokens(sql) == ("status", "=", "'x'")

    def test_string_literal_case_is_kept(self) -> None:
        upper = where_tokens("CREATE INDEX i ON t (a) WHERE s = 'A'")
        lower = where_tokens("CREATE INDEX i ON t (a) WHERE s = 'a'")
        assert upper != lower
        assert upper[-1] == "'A'"

    def test_escaped_quote_in_literal_is_one_token(self) -> None:
        assert where_tokens("CREATE INDEX i ON t (a) WHERE s = 'O''Brien'") == (
            "s",
            "=",
            "'O''Brien'",
        )

    def test_literal_containing_where_is_not_a_keyword(self) -> None:
        assert where_tokens("CREATE INDEX i ON t (a) WHERE s = 'where x'") == (
            "s",
            "=",
            "'where x'",
        )

    @pytest.mark.parametrize("sql", [None, "", 'CREATE INDEX "i" ON "t" ("a" DESC)'])
    def test_no_where_gives_empty_tuple(self, sql: str | None) -> None:
        assert where_tokens(sql) == ()

    def test_where_inside_parentheses_is_not_the_index_where(self) -> None:
        assert where_tokens("CREATE INDEX i ON t (a, (b where c))") == ()
        assert where_tokens("CREATE INDEX i ON t ((a where b)) WHERE c = 1") == ("c", "=", "1")

    def test_quoted_identifier_named_where_is_not_the_keyword(self) -> None:
        # A table (or column) may be called "where": quoted, it is a name, not the keyword.
        assert where_tokens('CREATE INDEX "idx_where_a" ON "where" ("a")') == ()
        assert where_tokens('CREATE INDEX "idx_where_a" ON "where" ("a") WHERE "a" = 1') == (
            "a",
            "=",
            "1",
        )

    def test_declared_partial_index_matches_hand_written_sql(self) -> None:
        spec = Job.index("idx_jobs_active_created")
        hand = (
            "create index idx_jobs_active_created on jobs (created_at desc) "
            "where status in ('pending','running','cancelling')"
        )
        assert where_tokens(spec.create_sql()) == where_tokens(hand)
        assert where_tokens(spec.create_sql()) != where_tokens(
            hand.replace("'cancelling'", "'failed'")
        )
