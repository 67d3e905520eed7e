"""collector.schema.sql: identifiers are validated then quoted, literals are escaped."""

from __future__ import annotations

import sqlite3

import pytest

from collector.schema.sql import (
    column_list,
    placeholders,
    quote_identifier,
    quote_literal,
    validate_identifier,
)

HOSTILE = [
    "",
    " ",
    "1abc",
    "jobs; DROP TABLE jobs",
    'jobs"',
    'a" OR "1"="1',
    "a b",
    "a-b",
    "a.b",
    "a'b",
    "a--",
    "a/*x*/",
    "jobs\x00",
    "\njobs",
    "jobs\t",
    "jobé",
    "\uff4aobs",
]


class TestValidateIdentifier:
    @pytest.mark.parametrize("name", ["jobs", "_x", "idx_jobs_status", "A1_b2", "a" * 100])
    def test_accepts_plain_identifiers(self, name: str) -> None:
        assert validate_identifier(name) == name

    @pytest.mark.parametrize("name", HOSTILE)
    def test_rejects_hostile_strings(self, name: str) -> None:
        with pytest.raises(ValueError, match="invalid identifier"):
            validate_identifier(name)

    def test_rejects_trailing_newline(self) -> None:
        # "$" in the pattern also matches before a final newline: "jobs\n" must not pass,
        # or quote_identifier names a different table ("jobs\n") than the check approved.
        with pytest.raises(ValueError, match="invalid identifier"):
            validate_identifier("jobs\n")
        with pytest.raises(ValueError):
            quote_identifier("idx_jobs_status\n")

    @pytest.mark.parametrize("name", [None, 1, b"jobs", ["jobs"]])
    def test_rejects_non_strings(self, name: object) -> None:
        with pytest.raises(ValueError):
            validate_identifier(name)

    def test_message_names_what_was_checked(self) -> None:
        with pytest.raises(ValueError, match=r"invalid table name 'a b'"):
            validate_identifier("a b", "table name")


class TestQuoteIdentifier:
    def test_wraps_in_double_quotes(self) -> None:
        assert quote_identifier("jobs") == '"jobs"'
        assert quote_identifier("created_at") == '"created_at"'

    @pytest.mark.parametrize("name", HOSTILE)
    def test_refuses_to_quote_hostile_strings(self, name: str) -> None:
        with pytest.raises(ValueError):
            quote_identifier(name)

    def test_column_list(self) -> None:
        assert column_list(["id", "status"]) == '"id", "status"'
        assert column_list(("a",)) == '"a"'
        with pytest.raises(ValueError):
            column_list(["id", "x; DROP"])


class TestQuoteLiteral:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("pending", "'pending'"),
            ("O'Brien", "'O''Brien'"),
            ("''", "''''''"),
            ("", "''"),
            ('a"b', "'a\"b'"),
            (0, "0"),
            (42, "42"),
            (-7, "-7"),
        ],
    )
    def test_renders(self, value: str | int, expected: str) -> None:
        assert quote_literal(value) == expected

    @pytest.mark.parametrize("value", [True, False, 1.5, None, b"x", ["a"], object()])
    def test_rejects_other_types(self, value: object) -> None:
        with pytest.raises(ValueError, match="only str and int literals"):
            quote_literal(value)  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", ["O'Brien", "'; DROP TABLE t; --", "a''b", "x'"])
    def test_sqlite_reads_back_the_same_string(self, value: str) -> None:
        conn = sqlite3.connect(":memory:")
        try:
            assert conn.execute("SELECT " + quote_literal(value)).fetchone()[0] == value
        finally:
            conn.close()


class TestPlaceholders:
    def test_counts(self) -> None:
        assert placeholders(1) == "?"
        assert placeholders(3) == "?, ?, ?"
        assert placeholders(5).count("?") == 5

    @pytest.mark.parametrize("count", [0, -1])
    def test_rejects_less_than_one(self, count: int) -> None:
        with pytest.raises(ValueError, match="at least one"):
            placeholders(count)
