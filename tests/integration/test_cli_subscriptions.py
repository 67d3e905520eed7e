"""``collector subscribe`` and ``collector subscriptions``: on both engines, with bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.repositories.subscriptions import SubscriptionRepository
from tests.worker_fixtures import database_option

pytestmark = pytest.mark.both_engines

CHANNEL = "https://www.youtube.com/@SomeChannel"
PLAYLIST = "https://www.youtube.com/playlist?list=PL0123456789abcdef"
VIDEO = "https://www.youtube.com/watch?v=abcdefghijk"


def cli(database: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*database_option(database), *args])


def test_subscribe_list_pause_resume_remove(db: DatabaseConfig, database: str) -> None:
    added = cli(
        database, "subscribe", CHANNEL, "--every", "1d", "--format", "720p",
        "--after", "2024-01-01", "--keep", "10",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    sub_id = added.stdout.strip()
    sub = SubscriptionRepository(db).get(sub_id)
    assert (sub.url, sub.every_seconds, sub.format) == (CHANNEL, 86400, "720p")
    assert (sub.after_date, sub.keep_newest, sub.paused) == ("2024-01-01", 10, 0)

    listed = cli(database, "subscriptions")
    assert listed.exit_code == 0
    line = listed.stdout.strip()
    assert line.startswith(f"{sub_id}  active every 1d    720p      next ")
    assert line.endswith(f"0 queued  {CHANNEL}")

    assert cli(database, "subscriptions", "pause", sub_id).stdout == f"paused {sub_id}\n"
    assert SubscriptionRepository(db).get(sub_id).paused == 1
    assert f"{sub_id}  paused every 1d" in cli(database, "subscriptions").stdout
    assert cli(database, "subscriptions", "resume", sub_id).stdout == f"resumed {sub_id}\n"
    assert SubscriptionRepository(db).get(sub_id).paused == 0

    as_json = json.loads(cli(database, "subscriptions", "--json").stdout)
    assert [(s["id"], s["paused"], s["every_seconds"]) for s in as_json] == [(sub_id, False, 86400)]

    assert cli(database, "subscriptions", "remove", sub_id).stdout == f"removed {sub_id}\n"
    empty = cli(database, "subscriptions")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "no subscriptions\n")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([VIDEO], 1, f"Error: {VIDEO} is a single video, not a playlist or channel"),
        (["not a url"], 1, "Error: not a valid URL: 'not a url'"),
        (["http://10.0.0.1/list"], 1, "Error: refused: 10.0.0.1 is an internal address"),
        ([CHANNEL, "--every", "1m"], 2, "Invalid value for '--every': every must be from 5m"),
        ([CHANNEL, "--every", "often"], 2, "as 30m, 6h or 1d; not 'often'"),
        ([CHANNEL, "--format", "4k"], 2, "'4k' is not one of 'best', '1080p'"),
        ([CHANNEL, "--after", "01/02/2024"], 2, "after must be a date as YYYY-MM-DD"),
        ([CHANNEL, "--keep", "0"], 2, "Invalid value for '--keep'"),
    ],
)
def test_subscribe_refuses_bad_input(
    db: DatabaseConfig, database: str, args: list[str], code: int, message: str
) -> None:
    refused = cli(database, "subscribe", *args)
    assert refused.exit_code == code, refused.output
    assert message in refused.output
    assert "Traceback" not in refused.output
    assert SubscriptionRepository(db).list_all() == []


def test_a_second_subscription_to_a_channel_is_refused(db: DatabaseConfig, database: str) -> None:
    first = cli(database, "subscribe", PLAYLIST).stdout.strip()
    again = cli(database, "subscribe", PLAYLIST, "--every", "1h")
    assert again.exit_code == 1
    assert f"is already followed as subscription {first}" in again.output


@pytest.mark.parametrize("action", ["pause", "resume", "remove"])
def test_unknown_ids(db: DatabaseConfig, database: str, action: str) -> None:
    missing = cli(database, "subscriptions", action, "nope")
    assert missing.exit_code == 1
    assert missing.output == "Error: no subscription with id 'nope'\n"


def test_set_changes_options_and_clears_them(db: DatabaseConfig, database: str) -> None:
    sub_id = cli(database, "subscribe", CHANNEL, "--format", "720p", "--keep", "5").stdout.strip()
    repo = SubscriptionRepository(db)

    changed = cli(
        database, "subscriptions", "set", sub_id, "--every", "12h", "--after", "2025-03-01"
    )
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.startswith(f"{sub_id}  active every 12h   720p ")
    sub = repo.get(sub_id)
    assert (sub.every_seconds, sub.after_date, sub.format, sub.keep_newest) == (
        43200,
        "2025-03-01",
        "720p",
        5,
    )
    cleared = cli(
        database, "subscriptions", "set", sub_id, "--format", "default",
        "--after", "none", "--keep", "all",
    )  # fmt: skip
    assert cleared.exit_code == 0, cleared.output
    sub = repo.get(sub_id)
    assert (sub.format, sub.after_date, sub.keep_newest) == (None, None, None)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give at least one of --every, --format, --after, --keep"),
        (["--every", "1s"], 2, "every"),
        (["--keep", "0"], 2, "keep must be a whole number from 1 to"),
        (["--keep", "many"], 2, "keep must be a whole number from 1 to"),
        (["--after", "yesterday"], 2, "after must be a date as YYYY-MM-DD"),
        (["--format", "4k"], 2, "Invalid value for '--format'"),
    ],
)
def test_set_refuses_bad_options(
    db: DatabaseConfig, database: str, args: list[str], code: int, message: str
) -> None:
    sub_id = cli(database, "subscribe", CHANNEL).stdout.strip()
    before = SubscriptionRepository(db).get(sub_id)
    result = cli(database, "subscriptions", "set", sub_id, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert SubscriptionRepository(db).get(sub_id).to_dict() == before.to_dict()  # unchanged


def test_set_on_an_unknown_subscription(database: str) -> None:
    result = cli(database, "subscriptions", "set", "nope", "--every", "1d")
    assert result.exit_code == 1
    assert "no subscription with id 'nope'" in result.output
