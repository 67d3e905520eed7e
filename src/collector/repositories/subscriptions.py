"""SubscriptionRepository: followed channels and playlists, and their checks.

A check is claimed like a job, under a lease (``checking_by``, ``check_expires_at``),
but one at a time across the whole fleet: a listing is a burst of requests to one
site, and several at once from one address is what gets an address throttled. The
claim takes the most overdue unpaused subscription only while no other check holds
an unexpired lease. On SQLite the claim's IMMEDIATE transaction excludes every other
writer; on PostgreSQL claimers first take an advisory transaction lock, so the
"no live lease" test and the update that takes one are never interleaved.

A finished check sets the next one: ``every`` later after a success; after a failure
a back-off of 5 minutes doubled per failure in a row, never longer than ``every``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from collector.config.database import DatabaseConfig
from collector.models.formats import check_format
from collector.models.quoting import quote_identifier
from collector.models.redaction import redact_url
from collector.models.subscription import (
    Subscription,
    check_after_date,
    check_keep,
    parse_every,
)
from collector.models.values import quoted, to_db_timestamp, utcnow

from .base import Repository, check_limit
from .identity import single_video, url_identity
from .queue import JobQueue

logger = logging.getLogger(__name__)

# Claimers of a check serialise on this advisory lock where write transactions do not
# exclude each other (PostgreSQL). ("coll" + 3.)
CHECK_LOCK = 0x636F_6C6C_0000_0003
# The back-off after a failed check: this, doubled per failure in a row, at most every.
BACKOFF_SECONDS = 5 * 60
MAX_BACKOFF_DOUBLINGS = 20
DEFAULT_LIST = 500

# The due-check index's condition, repeated as literals so the partial index serves.
UNPAUSED = Subscription.index("idx_subscriptions_due").where_sql()
SQL_GET = "SELECT * FROM subscriptions WHERE id = ?"
SQL_FIND_IDENTITY = "SELECT * FROM subscriptions WHERE identity = ?"
SQL_LIST = "SELECT * FROM subscriptions ORDER BY created_at DESC, id DESC LIMIT ?"
SQL_DELETE = "DELETE FROM subscriptions WHERE id = ? RETURNING *"
SQL_CLAIM = (
    "UPDATE subscriptions SET checking_by = ?, check_expires_at = ?, updated_at = ? "
    f"WHERE id = (SELECT id FROM subscriptions WHERE {UNPAUSED} AND next_check_at <= ? "
    "ORDER BY next_check_at, id LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE check_expires_at > ?) RETURNING *"
)
# Whether any check is due: a read (the due index's first entry), so that a worker's look
# every few seconds takes no write lock while nothing is due, the usual case.
# In the index's order, so that its first entry answers (no engine reads the table).
SQL_ANY_DUE = (
    f"SELECT 1 FROM subscriptions WHERE {UNPAUSED} AND next_check_at <= ? "
    "ORDER BY next_check_at, id LIMIT 1"
)
SQL_HELD = "SELECT * FROM subscriptions WHERE id = ? AND checking_by = ?"
SQL_RENEW_CHECK = (
    "UPDATE subscriptions SET check_expires_at = ? WHERE id = ? AND checking_by = ? RETURNING id"
)
SQL_FINISHED = (
    "UPDATE subscriptions SET checking_by = NULL, check_expires_at = NULL, "
    "last_checked_at = ?, next_check_at = ?, failures = 0, last_error = NULL, "
    "last_queued = ?, queued = queued + ?, title = COALESCE(?, title), updated_at = ? "
    "WHERE id = ? AND checking_by = ? RETURNING *"
)
SQL_FAILED = (
    "UPDATE subscriptions SET checking_by = NULL, check_expires_at = NULL, "
    "last_checked_at = ?, next_check_at = ?, failures = failures + 1, last_error = ?, "
    "updated_at = ? WHERE id = ? AND checking_by = ? RETURNING *"
)
# Keep the newest N: a subscription's completed jobs whose files are still there.
SQL_KEPT = (
    "SELECT id, upload_date, created_at FROM jobs WHERE subscription_id = ? "
    "AND status = 'completed' AND removed_at IS NULL"
)
SQL_REMOVE_FILES = "DELETE FROM files WHERE job_id = ?"
SQL_MARK_REMOVED = (
    "UPDATE jobs SET removed_at = ?, updated_at = ? WHERE id = ? AND removed_at IS NULL"
)
# The options a subscription's owner may change, and how each is checked.
OPTIONS = ("every", "format", "after_date", "keep_newest", "paused")


class SubscriptionNotFoundError(ValueError):
    """No subscription has this id."""


class SubscriptionExistsError(ValueError):
    """The channel or playlist is already followed."""


class NotAPlaylistError(ValueError):
    """The URL is a single video: there is nothing to follow."""


class Kept(NamedTuple):
    """A subscription's completed job whose files are kept, as the keep rule orders them."""

    id: str
    upload_date: str | None
    created_at: Any


def _stamp(moment: datetime | None = None) -> str:
    return to_db_timestamp(moment or utcnow())


def backoff_seconds(every_seconds: int, failures: int) -> int:
    """The wait after the ``failures + 1``-th failed check in a row."""
    doublings = min(max(failures, 0), MAX_BACKOFF_DOUBLINGS)
    return min(every_seconds, BACKOFF_SECONDS * 2**doublings)


class SubscriptionRepository(Repository[Subscription]):
    """Follow, list, change and stop following; claim and finish checks."""

    model = Subscription

    def __init__(self, db: DatabaseConfig | None = None) -> None:
        super().__init__(db)
        self.queue = JobQueue(self.db)

    # -- the user's side --------------------------------------------------------------

    def create(
        self,
        url: object,
        *,
        every: object = "6h",
        format: object = None,
        after_date: object = None,
        keep_newest: object = None,
    ) -> Subscription:
        """Follow ``url``; its first check is due at once.

        InvalidURLError (a bad or refused URL), NotAPlaylistError (a single video),
        InvalidFormatError, InvalidOptionError (every, after_date, keep_newest) or
        SubscriptionExistsError (already followed): all ValueErrors, none writes.
        """
        checked = self.queue.check_url(url)
        if single_video(checked) is True:
            raise NotAPlaylistError(
                f"{redact_url(checked)} is a single video, not a playlist or channel"
            )
        now = utcnow()
        sub = Subscription(
            url=checked,
            identity=url_identity(checked),
            every_seconds=parse_every(every),
            format=None if format is None else check_format(format),
            after_date=check_after_date(after_date),
            keep_newest=check_keep(keep_newest),
            next_check_at=now,
            created_at=now,
            updated_at=now,
        )
        with self.db.transaction() as conn:
            self.db.dialect.serialize(conn, CHECK_LOCK)
            existing = self.find_identity(sub.identity)
            if existing is not None:
                raise SubscriptionExistsError(
                    f"{redact_url(checked)} is already followed as subscription {existing.id}"
                )
            self.db.execute_update(self.insert_sql(), sub.to_row())
        logger.info("subscribed %s to %s", sub.id, redact_url(checked))
        return sub

    def find_identity(self, identity: str) -> Subscription | None:
        """The subscription to the channel or playlist ``identity`` names, if any."""
        return self._one(self.db.execute_query(SQL_FIND_IDENTITY, (identity,)))

    def list_all(self, limit: int = DEFAULT_LIST) -> list[Subscription]:
        """The subscriptions, newest first."""
        check_limit(limit, allow_none=False)
        return self._select(SQL_LIST, (limit,))

    def find(self, subscription_id: str) -> Subscription | None:
        """The subscription with this id, or None (removed since, or never)."""
        return self._one(self.db.execute_query(SQL_GET, (subscription_id,)))

    def get(self, subscription_id: str) -> Subscription:
        """The subscription with this id, or SubscriptionNotFoundError."""
        sub = self.find(subscription_id)
        if sub is None:
            raise SubscriptionNotFoundError(f"no subscription with id {quoted(subscription_id)}")
        return sub

    def pause(self, subscription_id: str) -> Subscription:
        return self.update(subscription_id, {"paused": True})

    def resume(self, subscription_id: str) -> Subscription:
        return self.update(subscription_id, {"paused": False})

    def update(self, subscription_id: str, changes: Mapping[str, Any]) -> Subscription:
        """Change options: ``every`` (as parse_every reads it), ``format`` (None: the
        default), ``after_date`` (None: no limit), ``keep_newest`` (None: all) and
        ``paused`` (True or False). A new ``every`` counts from the last check."""
        unknown = sorted(set(changes) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r}; valid: {', '.join(OPTIONS)}")
        values = self._checked(changes)
        with self.db.transaction():
            current = self.get(subscription_id)
            if "every_seconds" in values:
                since = current.last_checked_at or current.created_at
                values["next_check_at"] = _stamp(since + timedelta(seconds=values["every_seconds"]))
            if not values:
                return current
            values["updated_at"] = _stamp()
            assignments = ", ".join(f"{quote_identifier(name)} = ?" for name in values)
            sql = f"UPDATE subscriptions SET {assignments} WHERE id = ? RETURNING *"
            changed = self._one(self.db.execute_returning(sql, (*values.values(), subscription_id)))
        if changed is None:
            raise SubscriptionNotFoundError(f"no subscription with id {quoted(subscription_id)}")
        return changed

    @staticmethod
    def _checked(changes: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "every" in changes:
            values["every_seconds"] = parse_every(changes["every"])
        if "format" in changes:
            given = changes["format"]
            values["format"] = None if given is None else check_format(given)
        if "after_date" in changes:
            values["after_date"] = check_after_date(changes["after_date"])
        if "keep_newest" in changes:
            values["keep_newest"] = check_keep(changes["keep_newest"])
        if "paused" in changes:
            if not isinstance(changes["paused"], bool):
                raise ValueError(f"paused must be true or false, not {changes['paused']!r}"[:80])
            values["paused"] = int(changes["paused"])
        return values

    def remove(self, subscription_id: str) -> Subscription:
        """Stop following; the jobs it queued and their files stay."""
        removed = self._one(self.db.execute_returning(SQL_DELETE, (subscription_id,)))
        if removed is None:
            raise SubscriptionNotFoundError(f"no subscription with id {quoted(subscription_id)}")
        logger.info("unsubscribed %s", subscription_id)
        return removed

    # -- the worker's side ------------------------------------------------------------

    def any_due(self) -> bool:
        """Whether an unpaused subscription's check is due (one index probe, no lock)."""
        return bool(self.db.execute_query(SQL_ANY_DUE, (_stamp(utcnow()),)))

    def claim_due(self, worker_id: str, lease_seconds: float) -> Subscription | None:
        """The most overdue unpaused subscription whose check is due, leased to
        ``worker_id``; None if none is due or another check's lease is live."""
        now = utcnow()
        expires = _stamp(now + timedelta(seconds=lease_seconds))
        stamp = _stamp(now)
        with self.db.transaction() as conn:
            self.db.dialect.serialize(conn, CHECK_LOCK)
            params = (worker_id, expires, stamp, stamp, stamp)
            return self._one(self.db.execute_returning(SQL_CLAIM, params))

    def renew_check(self, subscription_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease of a check under way; False if ``worker_id`` no longer holds it."""
        expires = _stamp(utcnow() + timedelta(seconds=lease_seconds))
        rows = self.db.execute_returning(SQL_RENEW_CHECK, (expires, subscription_id, worker_id))
        return bool(rows)

    def finish_check(
        self,
        subscription_id: str,
        worker_id: str,
        *,
        queued: int = 0,
        error: str | None = None,
        title: str | None = None,
    ) -> Subscription | None:
        """Record a check's result and set the next one (see the module's docstring).

        None, having changed nothing, if the check is no longer held by ``worker_id``.
        """
        now = utcnow()
        with self.db.transaction():
            held = self._one(self.db.execute_query(SQL_HELD, (subscription_id, worker_id)))
            if held is None:
                return None
            if error is None:
                after = _stamp(now + timedelta(seconds=held.every_seconds))
                params: tuple[Any, ...] = (_stamp(now), after, queued, queued, title)
                sql = SQL_FINISHED
            else:
                wait = backoff_seconds(held.every_seconds, held.failures)
                after = _stamp(now + timedelta(seconds=wait))
                params = (_stamp(now), after, error[:1000])
                sql = SQL_FAILED
            params = (*params, _stamp(now), subscription_id, worker_id)
            rows = self.db.execute_returning(sql, params)
        return self._one(rows)

    def kept_jobs(self, subscription_id: str) -> list[Kept]:
        """The subscription's completed jobs that still have their files, newest first
        by upload date (unknown: oldest), then by when they were queued."""
        rows = self.db.execute_query(SQL_KEPT, (subscription_id,))
        kept = [Kept(row["id"], row["upload_date"], row["created_at"]) for row in rows]
        kept.sort(key=lambda k: (k.upload_date or "", str(k.created_at), k.id), reverse=True)
        return kept

    def mark_removed(self, job_id: str) -> bool:
        """Forget a job's files (their rows) and stamp ``removed_at``; the job stays.
        False if it was already removed (it has no file rows left to forget)."""
        now = _stamp()
        with self.db.transaction():
            self.db.execute_update(SQL_REMOVE_FILES, (job_id,))
            changed = self.db.execute_update(SQL_MARK_REMOVED, (now, now, job_id))
        return bool(changed)
