"""JobQueue: the jobs table used as a durable work queue.

Every state change is one short IMMEDIATE transaction. A worker claims the oldest
claimable pending job and holds it under a lease (``worker_id``, ``lease_expires_at``)
that it renews while it works; every write a worker makes names its id, so a
worker that lost its lease (it stalled, and the job was recovered and claimed by
another) changes nothing. A job whose lease expired goes back to pending with
``retry_count + 1`` (or fails, once ``max_retries`` is spent), so a killed worker
strands nothing.

Statuses move:  pending -> running -> completed | failed | pending (transient, later)
                running -> cancelling -> cancelled;  pending -> cancelled
                failed | cancelled -> pending (retry)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from collector.config.database import DatabaseConfig
from collector.config.settings import Config
from collector.models.entries import Entry, Listing
from collector.models.formats import check_format
from collector.models.job import Job
from collector.models.outbound import AllowedHosts
from collector.models.quoting import quote_identifier
from collector.models.redaction import redact_url
from collector.models.urls import detect_platform, validate_url
from collector.models.values import from_db_timestamp, quoted, to_db_timestamp, utcnow

from .base import Repository
from .file_repository import FileRepository
from .identity import url_identity
from .job_repository import JOB_COLUMNS
from .settings_repository import load_allowed_hosts

logger = logging.getLogger(__name__)

# The statuses in which a URL counts as already queued: the very condition the partial
# index idx_jobs_url_queued declares, as literals (a partial index serves a query only
# when the query repeats its WHERE terms).
QUEUED_CONDITION = Job.index("idx_jobs_url_queued").where_sql()
WORKER_HOLDS = "id = ? AND worker_id = ?"

# The queued job of a video: by its identity (idx_jobs_identity_queued, unique), or by
# its exact URL for a job queued before identities were (idx_jobs_url_queued). Both
# partial indexes declare the same condition; the engines take the OR as a union of
# the two index searches. No ORDER BY: at most one job per identity is queued, and
# sorting the rows of two index ranges would need a temporary B-tree.
SQL_FIND_QUEUED = (
    f"SELECT * FROM jobs WHERE (identity = ? OR url = ?) AND {QUEUED_CONDITION} LIMIT 1"
)
SQL_FIND_QUEUED_MANY = (
    f"SELECT * FROM jobs WHERE (identity IN ({{keys}}) OR url IN ({{keys}})) AND {QUEUED_CONDITION}"
)
# enqueue_many's INSERT where the engine pipelines: it skips a video already queued, by
# either queued index (the look-up's two probes, per new row), under ENQUEUE_LOCK.
QUEUED_ELSEWHERE = (
    f"NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.identity = new.identity AND {QUEUED_CONDITION}) "
    f"AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.url = new.url AND {QUEUED_CONDITION})"
)
# Which of these identities the library has a job for, in any status: read from
# idx_jobs_identity alone.
SQL_KNOWN_IDENTITIES = "SELECT identity FROM jobs WHERE identity IN ({keys})"
# The dialect's claim_lock ends the inner SELECT: on PostgreSQL FOR UPDATE SKIP LOCKED,
# so concurrent claimers each take a different row and never wait for one another.
SQL_CLAIM = (
    "UPDATE jobs SET status = 'running', worker_id = ?, lease_expires_at = ?, "
    "current_operation = 'starting', updated_at = ? "
    "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
    f"ORDER BY created_at, id LIMIT 1{{lock}}) AND status = 'pending' RETURNING {JOB_COLUMNS}"
)
# Several claimed by one statement (claim_many): the oldest ``n`` claimable, each skipped
# if another claimer holds it. The pick is a MATERIALIZED CTE, run once: as an
# ``IN (subquery)`` PostgreSQL may rescan the locking subquery, and a rescan skips the
# rows this very statement just made running and takes more, past the LIMIT.
SQL_CLAIM_MANY = (
    "WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE status = 'pending' "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
    "ORDER BY created_at, id LIMIT ?{lock}) "
    "UPDATE jobs SET status = 'running', worker_id = ?, lease_expires_at = ?, "
    "current_operation = 'starting', updated_at = ? "
    f"WHERE id IN (SELECT id FROM picked) AND status = 'pending' RETURNING {JOB_COLUMNS}"
)
# The channel on which queueing a claimable job is announced to other processes (on an
# engine with notifications: PostgreSQL's NOTIFY; worker/wake.py listens).
QUEUE_CHANNEL = "collector_jobs"
# Queueing looks for the URL, then inserts: on an engine whose write transactions do not
# exclude each other (PostgreSQL), enqueuers take this advisory lock first, so two
# callers queueing the same URL at once still make one job. ("coll" + 2.)
ENQUEUE_LOCK = 0x636F_6C6C_0000_0002
SQL_CLAIMABLE = (
    "SELECT 1 FROM jobs WHERE status = 'pending' "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT 1"
)
SQL_PENDING_SUMMARY = (
    "SELECT COUNT(*) AS pending, MIN(next_attempt_at) AS earliest FROM jobs "
    "WHERE status = 'pending'"
)
SQL_RENEW = (
    "UPDATE jobs SET lease_expires_at = ? "
    f"WHERE {WORKER_HOLDS} AND status IN ('running', 'cancelling') RETURNING status"
)
SQL_PROGRESS = (
    "UPDATE jobs SET progress = ?, bytes_downloaded = ?, current_operation = ?, "
    "title = COALESCE(?, title), lease_expires_at = ?, updated_at = ? "
    f"WHERE {WORKER_HOLDS} AND status IN ('running', 'cancelling') RETURNING status"
)
# What the extracted information tells of the media (worker/engine.py media_metadata).
METADATA_COLUMNS = ("uploader", "duration", "upload_date", "extractor", "extractor_id")


def _complete_sql(first: str) -> str:
    """Mark a running job completed: ``first`` (one ``?``), then its title and metadata
    (each kept where the value bound is NULL)."""
    keep = "".join(
        f"{quote_identifier(c)} = COALESCE(?, {quote_identifier(c)}), " for c in METADATA_COLUMNS
    )
    return (
        f"UPDATE jobs SET status = 'completed', progress = 100, {first}, "
        f"title = COALESCE(?, title), {keep}"
        "error_message = NULL, current_operation = NULL, "
        "lease_expires_at = NULL, next_attempt_at = NULL, completed_at = ?, updated_at = ? "
        f"WHERE {WORKER_HOLDS} AND status = 'running' RETURNING {JOB_COLUMNS}"
    )


SQL_COMPLETE = _complete_sql("bytes_downloaded = ?")
# A playlist's listing is done: its entry count (nothing was downloaded), title, metadata.
SQL_COMPLETE_LISTING = _complete_sql("bytes_downloaded = 0, entries = ?")
SQL_COMPLETE_MANY = (
    "UPDATE jobs SET status = 'completed', progress = 100, error_message = NULL, "
    "current_operation = NULL, lease_expires_at = NULL, next_attempt_at = NULL, "
    "completed_at = ?, updated_at = ? "
    "WHERE id IN ({ids}) AND worker_id = ? AND status = 'running' RETURNING id"
)
SQL_FAIL = (
    "UPDATE jobs SET status = 'failed', error_message = ?, current_operation = NULL, "
    "lease_expires_at = NULL, completed_at = ?, updated_at = ? "
    f"WHERE {WORKER_HOLDS} AND status = 'running' RETURNING {JOB_COLUMNS}"
)
SQL_RESCHEDULE = (
    "UPDATE jobs SET status = 'pending', retry_count = retry_count + 1, error_message = ?, "
    "next_attempt_at = ?, progress = 0, bytes_downloaded = 0, current_operation = ?, "
    "worker_id = NULL, lease_expires_at = NULL, updated_at = ? "
    f"WHERE {WORKER_HOLDS} AND status = 'running' RETURNING {JOB_COLUMNS}"
)
SQL_RELEASE = (
    "UPDATE jobs SET status = 'pending', progress = 0, bytes_downloaded = 0, "
    "current_operation = ?, worker_id = NULL, "
    "lease_expires_at = NULL, updated_at = ? "
    f"WHERE {WORKER_HOLDS} AND status = 'running' RETURNING {JOB_COLUMNS}"
)
SQL_FINISH_CANCEL = (
    "UPDATE jobs SET status = 'cancelled', current_operation = NULL, lease_expires_at = NULL, "
    "completed_at = ?, updated_at = ? "
    f"WHERE {WORKER_HOLDS} AND status IN ('running', 'cancelling') RETURNING {JOB_COLUMNS}"
)
SQL_CANCEL = (
    "UPDATE jobs SET status = CASE status WHEN 'pending' THEN 'cancelled' ELSE 'cancelling' END, "
    "completed_at = CASE status WHEN 'pending' THEN ? ELSE completed_at END, "
    "current_operation = CASE status WHEN 'pending' THEN NULL ELSE 'cancelling' END, "
    f"updated_at = ? WHERE id = ? AND status IN ('pending', 'running') RETURNING {JOB_COLUMNS}"
)
SQL_RETRY = (
    "UPDATE jobs SET status = 'pending', retry_count = 0, error_message = NULL, progress = 0, "
    "bytes_downloaded = 0, current_operation = NULL, worker_id = NULL, "
    "lease_expires_at = NULL, next_attempt_at = NULL, completed_at = NULL, updated_at = ? "
    f"WHERE id = ? AND status IN ('failed', 'cancelled') RETURNING {JOB_COLUMNS}"
)
# Lease recovery: three statements, one transaction, each a search of the status index.
SQL_RECOVER_CANCELLING = (
    "UPDATE jobs SET status = 'cancelled', current_operation = NULL, worker_id = NULL, "
    "lease_expires_at = NULL, completed_at = ?, updated_at = ? "
    f"WHERE status = 'cancelling' AND lease_expires_at < ? RETURNING {JOB_COLUMNS}"
)
SQL_RECOVER_EXHAUSTED = (
    "UPDATE jobs SET status = 'failed', error_message = ?, current_operation = NULL, "
    "worker_id = NULL, lease_expires_at = NULL, completed_at = ?, updated_at = ? "
    "WHERE status = 'running' AND lease_expires_at < ? AND retry_count >= ? "
    f"RETURNING {JOB_COLUMNS}"
)
SQL_RECOVER_RUNNING = (
    "UPDATE jobs SET status = 'pending', retry_count = retry_count + 1, progress = 0, "
    "bytes_downloaded = 0, current_operation = NULL, worker_id = NULL, "
    "lease_expires_at = NULL, updated_at = ? "
    f"WHERE status = 'running' AND lease_expires_at < ? RETURNING {JOB_COLUMNS}"
)
LOST_WORKER_MESSAGE = "the worker running this job stopped responding (lease expired)"


# Called with the database after a job was queued or queued again from this process
# (worker/wake.py: in-process workers start it without waiting for their watcher).
enqueue_listeners: set[Callable[[DatabaseConfig], None]] = set()


def announce(db: DatabaseConfig) -> None:
    """Tell this process's listeners that ``db`` has a new pending job."""
    for listener in list(enqueue_listeners):
        try:
            listener(db)
        except Exception:
            logger.exception("an enqueue listener failed")


class JobNotFoundError(ValueError):
    """No job has this id."""


class JobStateError(ValueError):
    """The job's status does not allow this change."""


class Enqueued(NamedTuple):
    """The job a URL is queued as, and whether this call created it."""

    job: Job
    created: bool


class Recovered(NamedTuple):
    """Jobs whose lease had expired, by what became of them."""

    requeued: list[Job]
    failed: list[Job]
    cancelled: list[Job]


def _stamp(moment: datetime | None = None) -> str:
    return to_db_timestamp(moment or utcnow())


def _later(seconds: float) -> str:
    return _stamp(utcnow() + timedelta(seconds=seconds))


class JobQueue(Repository[Job]):
    """Queue, claim, lease, finish, cancel and retry jobs."""

    model = Job

    def __init__(self, db: DatabaseConfig | None = None) -> None:
        super().__init__(db)
        self.files = FileRepository(self.db)
        self.host = Config.host_name()  # recorded on the files this process's workers write
        self._allowed_hosts: AllowedHosts | None = None

    @property
    def allowed_hosts(self) -> AllowedHosts:
        """The internal hosts URLs may name (COLLECTOR_ALLOWED_HOSTS and the setting)."""
        if self._allowed_hosts is None:
            self._allowed_hosts = load_allowed_hosts(self.db)
        return self._allowed_hosts

    def check_url(self, url: object) -> str:
        """validate_url with the allowed hosts: the URL to queue, or InvalidURLError."""
        return validate_url(url, self.allowed_hosts)

    # -- the user's side ------------------------------------------------------------------

    def enqueue(self, url: str, format: str | None = None) -> Enqueued:
        """Queue ``url``, or return the pending or running job that already has it.

        ``format`` is one of models.formats.FORMATS (InvalidFormatError, a ValueError,
        otherwise), or None for the default_format setting when the job runs.

        Look-up and insert share one IMMEDIATE transaction, which serialises writers,
        so two callers queueing the same URL at once still make one job.
        """
        url = self.check_url(url)
        if format is not None:
            check_format(format)
        identity = url_identity(url)
        with self.db.transaction() as conn:
            self.db.dialect.serialize(conn, ENQUEUE_LOCK)
            existing = self.find_queued(url, identity)
            if existing is not None:
                return Enqueued(existing, False)
            job = self._new_job(url, identity, format)
            self.db.execute_update(self.insert_sql(), job.to_row())
            self.db.dialect.notify(conn, QUEUE_CHANNEL)  # sent at COMMIT
        logger.info("queued job %s for %s", job.id, redact_url(url))
        announce(self.db)
        return Enqueued(job, True)

    def enqueue_many(self, urls: Iterable[str], format: str | None = None) -> list[Enqueued]:
        """Queue every URL in one transaction: one Enqueued per URL, in order.

        ``format`` (as for ``enqueue``) is given to every new job.

        As ``enqueue`` for each, but the new jobs go in with the bulk insert and one
        commit; a URL given twice is queued once (its second Enqueued is not created).
        An invalid URL raises InvalidURLError before anything is written.
        """
        checked = [self.check_url(url) for url in urls]
        if format is not None:
            check_format(format)
        identities = {url: url_identity(url) for url in checked}
        if not checked:
            return []
        if self.db.dialect.features.pipelined and len(identities) <= self._keys_per_look_up():
            return self._enqueue_in_one_trip(checked, identities, format)
        results: list[Enqueued] = []
        new: dict[str, Job] = {}  # by identity
        # BEGIN, the lock and the look-up, then the insert, the notice and COMMIT.
        with self.db.dialect.pipeline(self.db.connection()), self.db.transaction() as conn:
            self.db.dialect.serialize(conn, ENQUEUE_LOCK)
            queued = self.find_queued_many(identities)
            for url in checked:
                identity = identities[url]
                if identity in new:
                    results.append(Enqueued(new[identity], False))
                    continue
                existing = queued.get(identity) or queued.get(url)
                if existing is not None:
                    results.append(Enqueued(existing, False))
                    continue
                job = new[identity] = self._new_job(url, identity, format)
                results.append(Enqueued(job, True))
            if new:
                # An error rolls the whole transaction back: no savepoint needed.
                rows = [job.to_row() for job in new.values()]
                self.insert_rows(conn, rows, savepoint=False)
                self.db.dialect.notify(conn, QUEUE_CHANNEL)  # one per transaction
        if new:
            logger.info("queued %d job(s) in one transaction", len(new))
            announce(self.db)
        return results

    def _enqueue_in_one_trip(
        self, checked: list[str], identities: dict[str, str], format: str | None
    ) -> list[Enqueued]:
        """enqueue_many where the engine pipelines (PostgreSQL): BEGIN, the lock, an INSERT
        that skips the videos already queued, the look-up of the queued jobs (those it
        skipped and those it made), the notice and COMMIT go in one round trip, where a
        look-up before the insert takes two. The notice is sent even when every URL was
        queued already: a wake-up that finds nothing costs an idle worker one claim."""
        made: dict[str, Job] = {}  # by identity: this call's new jobs, if inserted
        for url in checked:
            identity = identities[url]
            if identity not in made:
                made[identity] = self._new_job(url, identity, format)
        rows = [job.to_row() for job in made.values()]
        pairs = list(identities.items())
        look_up = SQL_FIND_QUEUED_MANY.format(keys=", ".join("?" * len(pairs)))
        keys = [identity for _, identity in pairs] + [url for url, _ in pairs]
        dialect = self.db.dialect
        with dialect.pipeline(self.db.connection()), self.db.transaction() as conn:
            dialect.serialize(conn, ENQUEUE_LOCK)
            columns = [list(column) for column in zip(*rows, strict=True)]
            insert = self.array_insert_sql(dialect, QUEUED_ELSEWHERE)
            added = conn.execute(f"{insert} RETURNING id", columns)
            queued = conn.execute(look_up, keys)
            dialect.notify(conn, QUEUE_CHANNEL)
        inserted = {row["id"] for row in added.fetchall()}
        held = self._by_key(
            job for job in self._rows_to_models(queued.fetchall()) if job.id not in inserted
        )
        results: list[Enqueued | None] = []
        again: list[str] = []  # skipped, yet no longer queued when looked up: a race
        returned: set[str] = set()  # identities whose new job is in results already
        for url in checked:
            identity = identities[url]
            job = made[identity]
            if job.id in inserted:  # a URL given twice: only its first is "created"
                results.append(Enqueued(job, identity not in returned))
                returned.add(identity)
                continue
            existing = held.get(identity) or held.get(url)
            if existing is None:
                again.append(url)
            results.append(None if existing is None else Enqueued(existing, False))
        if again:  # the job that made the INSERT skip a URL ended before the look-up
            queued_again = iter(self.enqueue_many(again, format))
            results = [r if r is not None else next(queued_again) for r in results]
        created = [r.job for r in results if r is not None and r.created]
        if created:
            logger.info("queued %d job(s) in one transaction", len(created))
            announce(self.db)
        return [r for r in results if r is not None]

    def _keys_per_look_up(self) -> int:
        """URLs one look-up statement takes (two parameters each)."""
        return max(1, self.db.dialect.max_variables(self.db.connection()) // 2)

    @staticmethod
    def _by_key(jobs: Iterable[Job]) -> dict[str, Job]:
        """Jobs by identity and by URL, the oldest where several share one."""
        found: dict[str, Job] = {}
        for job in jobs:
            for key in (job.identity, job.url):
                if key is None:
                    continue
                held = found.get(key)
                if held is None or (job.created_at, job.id) < (held.created_at, held.id):
                    found[key] = job
        return found

    def _new_job(self, url: str, identity: str, format: str | None, **columns: Any) -> Job:
        return Job(
            url=url, platform=detect_platform(url), format=format, identity=identity, **columns
        )

    def find_queued(self, url: str, identity: str | None = None) -> Job | None:
        """The pending or running job of this video: the one of its identity (by default
        the URL's, repositories/identity.py), else one queued for exactly this URL."""
        identity = url_identity(url) if identity is None else identity
        return self._one(self.db.execute_query(SQL_FIND_QUEUED, (identity, url)))

    def find_queued_many(self, identities: Mapping[str, str]) -> dict[str, Job]:
        """The pending or running jobs of these videos (``{url: identity}``), keyed by
        identity and, for a job queued before identities were, by URL (the oldest, if
        one had several); one statement per chunk of URLs."""
        jobs: list[Job] = []
        pairs = list(dict.fromkeys(identities.items()))
        limit = self._keys_per_look_up()
        for start in range(0, len(pairs), limit):
            chunk = pairs[start : start + limit]
            sql = SQL_FIND_QUEUED_MANY.format(keys=", ".join("?" * len(chunk)))
            params = [identity for _, identity in chunk] + [url for url, _ in chunk]
            jobs.extend(self._rows_to_models(self.db.execute_query(sql, params)))
        return self._by_key(jobs)

    def known_identities(self, identities: Iterable[str]) -> set[str]:
        """Which of these identities any job has, in any status (one statement per chunk)."""
        unique = list(dict.fromkeys(identities))
        limit = max(1, self.db.dialect.max_variables(self.db.connection()))
        known: set[str] = set()
        for start in range(0, len(unique), limit):
            chunk = unique[start : start + limit]
            sql = SQL_KNOWN_IDENTITIES.format(keys=", ".join("?" * len(chunk)))
            known.update(row["identity"] for row in self.db.execute_query(sql, chunk))
        return known

    def enqueue_entries(
        self,
        entries: Sequence[Entry],
        *,
        parent_id: str | None = None,
        subscription_id: str | None = None,
        format: str | None = None,
    ) -> list[Job]:
        """Queue a listing's entries (a playlist's, a subscription's) in one transaction:
        the jobs created, in the entries' order.

        An entry whose identity any job already has, in any status, is not queued
        again (the library has it, or had it and it failed: its page can retry it),
        nor is one listed twice. The new jobs go in with the bulk insert and one
        notice; each records ``parent_id`` and ``subscription_id``, and the entry's
        title and upload date until its download tells better.
        """
        if format is not None:
            check_format(format)
        with self.db.dialect.pipeline(self.db.connection()), self.db.transaction() as conn:
            self.db.dialect.serialize(conn, ENQUEUE_LOCK)
            created = self._insert_entries(
                conn, entries, parent_id=parent_id, subscription_id=subscription_id, format=format
            )
        if created:
            logger.info("queued %d entr(ies) in one transaction", len(created))
            announce(self.db)
        return created

    def _insert_entries(
        self,
        conn: Any,
        entries: Sequence[Entry],
        *,
        parent_id: str | None,
        subscription_id: str | None,
        format: str | None,
    ) -> list[Job]:
        """enqueue_entries' work, in the caller's transaction (which holds ENQUEUE_LOCK)."""
        known = self.known_identities(entry.identity for entry in entries)
        new: dict[str, Job] = {}
        # A microsecond apart, in the entries' order: claimed in that order, and a
        # playlist's entries are listed in it (JobRepository.page(parent=...)).
        start = utcnow()
        for entry in entries:
            if entry.identity in known or entry.identity in new:
                continue
            new[entry.identity] = self._new_job(
                entry.url,
                entry.identity,
                format,
                created_at=start + timedelta(microseconds=len(new)),
                title=entry.title,
                upload_date=entry.upload_date,
                parent_id=parent_id,
                subscription_id=subscription_id,
            )
        if new:
            self.insert_rows(conn, [job.to_row() for job in new.values()], savepoint=False)
            self.db.dialect.notify(conn, QUEUE_CHANNEL)  # one per transaction
        return list(new.values())

    def get(self, job_id: str) -> Job:
        """The job with this id, or JobNotFoundError."""
        job = self._one(self.db.execute_query("SELECT * FROM jobs WHERE id = ?", (job_id,)))
        if job is None:
            raise JobNotFoundError(f"no job with id {quoted(job_id)}")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a pending job now, or ask the worker of a running one to stop it."""
        now = _stamp()
        with self.db.transaction():
            job = self._one(self.db.execute_returning(SQL_CANCEL, (now, now, job_id)))
            if job is None:
                current = self.get(job_id)
                if current.status != "cancelling":
                    raise JobStateError(
                        f"job {job_id} is {current.status}; only pending or running jobs "
                        "can be cancelled"
                    )
                job = current
        logger.info("job %s is %s", job_id, job.status)
        return job

    def retry(self, job_id: str) -> Job:
        """Put a failed or cancelled job back in the queue (its retry count starts again)."""
        with self.db.transaction() as conn:
            self.db.dialect.serialize(conn, ENQUEUE_LOCK)
            current = self.get(job_id)
            if current.status not in ("failed", "cancelled"):
                raise JobStateError(
                    f"job {job_id} is {current.status}; only failed or cancelled jobs "
                    "can be retried"
                )
            other = self.find_queued(current.url, current.identity or url_identity(current.url))
            if other is not None:
                shown = redact_url(current.url)
                raise JobStateError(f"{shown} is already queued as job {other.id}")
            job = self._one(self.db.execute_returning(SQL_RETRY, (_stamp(), job_id)))
            self.db.dialect.notify(conn, QUEUE_CHANNEL)
        if job is None:  # only when the statement was recorded, not run (plan checks)
            raise JobStateError(f"job {job_id} was not queued again")
        logger.info("job %s queued again", job_id)
        announce(self.db)
        return job

    # -- the worker's side --------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Take the oldest claimable pending job, leased to ``worker_id``; None if none."""
        now = _stamp()
        params = (worker_id, _later(lease_seconds), now, now)
        sql = SQL_CLAIM.format(lock=self.db.dialect.claim_lock)
        return self._one(self.db.execute_returning(sql, params))

    def claim_many(self, worker_id: str, lease_seconds: float, n: int) -> list[Job]:
        """Take up to ``n`` of the oldest claimable pending jobs in one statement, each
        leased to ``worker_id``; oldest first ([] if none). On PostgreSQL concurrent
        claimers skip the rows another holds (FOR UPDATE SKIP LOCKED); on SQLite the
        statement's write lock excludes them. No job is taken twice."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number of jobs, 1 or more, not {n!r}")
        now = _stamp()
        params = (now, n, worker_id, _later(lease_seconds), now)
        sql = SQL_CLAIM_MANY.format(lock=self.db.dialect.claim_lock)
        jobs = self._rows_to_models(self.db.execute_returning(sql, params))
        return sorted(jobs, key=lambda job: (job.created_at, job.id))

    def complete_many(self, worker_id: str, job_ids: Sequence[str]) -> set[str]:
        """Mark several jobs completed (no files, no title) in one statement: the ids that
        were still running under ``worker_id`` (the others are left as they are)."""
        done: set[str] = set()
        limit = max(1, self.db.dialect.max_variables(self.db.connection()) - 3)
        for start in range(0, len(job_ids), limit):
            chunk = list(job_ids[start : start + limit])
            now = _stamp()
            sql = SQL_COMPLETE_MANY.format(ids=", ".join("?" * len(chunk)))
            rows = self.db.execute_returning(sql, (now, now, *chunk, worker_id))
            done.update(row["id"] for row in rows)
        return done

    def complete_and_claim(
        self, worker_id: str, done_ids: Sequence[str], lease_seconds: float, n: int
    ) -> list[Job]:
        """``complete_many(done_ids)``, then ``claim_many(n)``, with one commit: a worker
        finishing a batch of no-op jobs takes the next one in one round trip where the
        engine can write twice in one statement (PostgreSQL), else in one transaction.
        Returns the jobs claimed; those of ``done_ids`` no longer running under
        ``worker_id`` are left as they are (as complete_many leaves them)."""
        if not done_ids:
            return self.claim_many(worker_id, lease_seconds, n)
        limit = self.db.dialect.max_variables(self.db.connection()) - 8
        if not self.db.dialect.features.writable_cte or len(done_ids) > limit:
            with self.db.transaction():
                self.complete_many(worker_id, done_ids)
                return self.claim_many(worker_id, lease_seconds, n)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number of jobs, 1 or more, not {n!r}")
        now = _stamp()
        done = SQL_COMPLETE_MANY.format(ids=", ".join("?" * len(done_ids)))
        claim = SQL_CLAIM_MANY.format(lock=self.db.dialect.claim_lock).removeprefix("WITH ")
        sql = f"WITH done AS ({done}), {claim}"
        params = (now, now, *done_ids, worker_id, now, n, worker_id, _later(lease_seconds), now)
        jobs = self._rows_to_models(self.db.execute_returning(sql, params))
        return sorted(jobs, key=lambda job: (job.created_at, job.id))

    def has_claimable(self) -> bool:
        """Whether a pending job may be claimed now (one index probe, unlike pending_wait)."""
        return bool(self.db.execute_query(SQL_CLAIMABLE, (_stamp(),)))

    def pending_wait(self) -> float | None:
        """Seconds until a pending job may be claimed (0: now); None if none is pending."""
        row = self.db.execute_query(SQL_PENDING_SUMMARY)
        if not row or not row[0]["pending"]:
            return None
        earliest = from_db_timestamp(row[0]["earliest"])
        if earliest is None:
            return 0.0
        return max(0.0, (earliest - utcnow()).total_seconds())

    def renew(self, job_id: str, worker_id: str, lease_seconds: float) -> str | None:
        """Extend the lease; the job's status (running or cancelling), None if not ours."""
        rows = self.db.execute_returning(SQL_RENEW, (_later(lease_seconds), job_id, worker_id))
        return rows[0]["status"] if rows else None

    def report_progress(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        progress: int,
        bytes_downloaded: int,
        operation: str | None,
        title: str | None = None,
    ) -> str | None:
        """Record progress and extend the lease; the status, or None if the job is not ours."""
        params = (
            max(0, min(int(progress), 100)),
            max(0, int(bytes_downloaded)),
            operation,
            title,
            _later(lease_seconds),
            _stamp(),
            job_id,
            worker_id,
        )
        rows = self.db.execute_returning(SQL_PROGRESS, params)
        return rows[0]["status"] if rows else None

    def complete(
        self,
        job_id: str,
        worker_id: str,
        files: Sequence[tuple[Path, str, int]] = (),
        *,
        title: str | None = None,
        bytes_downloaded: int = 0,
        metadata: Mapping[str, Any] | None = None,
    ) -> Job | None:
        """Mark the job completed and record its files (path, type, size) together.

        ``metadata`` sets the METADATA_COLUMNS it names (others keep their value);
        any other key is a ValueError.

        None, having changed nothing, if the job is no longer running under this worker.
        """
        now = _stamp()
        metadata = dict(metadata or {})
        unknown = sorted(set(metadata) - set(METADATA_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown metadata {unknown[0]!r}; valid: {', '.join(METADATA_COLUMNS)}"
            )
        values = tuple(metadata.get(column) for column in METADATA_COLUMNS)
        params = (bytes_downloaded, title, *values, now, now, job_id, worker_id)
        with self.db.transaction():
            job = self._one(self.db.execute_returning(SQL_COMPLETE, params))
            if job is None:
                return None
            for path, file_type, size in files:
                self.files.create_file(job_id, str(path), file_type, size, self.host)
        return job

    def complete_listing(
        self, job_id: str, worker_id: str, listing: Listing, format: str | None = None
    ) -> tuple[Job, list[Job]] | None:
        """A playlist job's listing is done: in one transaction, mark it completed with
        its entry count, title and metadata, and queue its entries as its children
        (``enqueue_entries``, with the playlist's format). (parent, children queued),
        or None, having changed nothing, if the job is no longer running under this
        worker."""
        if format is not None:
            check_format(format)
        now = _stamp()
        metadata = {k: v for k, v in listing.metadata.items() if k in METADATA_COLUMNS}
        values = tuple(metadata.get(column) for column in METADATA_COLUMNS)
        params = (len(listing.entries), listing.title, *values, now, now, job_id, worker_id)
        with self.db.dialect.pipeline(self.db.connection()), self.db.transaction() as conn:
            self.db.dialect.serialize(conn, ENQUEUE_LOCK)
            parent = self._one(self.db.execute_returning(SQL_COMPLETE_LISTING, params))
            if parent is None:
                return None
            children = self._insert_entries(
                conn, listing.entries, parent_id=job_id, subscription_id=None, format=format
            )
        logger.info(
            "job %s listed %d entries, queued %d", job_id, len(listing.entries), len(children)
        )
        if children:
            announce(self.db)
        return parent, children

    def fail(self, job_id: str, worker_id: str, message: str) -> Job | None:
        """Mark the job failed with a short readable reason."""
        now = _stamp()
        return self._one(
            self.db.execute_returning(SQL_FAIL, (message, now, now, job_id, worker_id))
        )

    def reschedule(
        self, job_id: str, worker_id: str, message: str, delay_seconds: float
    ) -> Job | None:
        """Back to pending after a transient failure, claimable after ``delay_seconds``."""
        when = _later(delay_seconds)
        operation = f"retrying after: {message}"[:200]
        params = (message, when, operation, _stamp(), job_id, worker_id)
        return self._one(self.db.execute_returning(SQL_RESCHEDULE, params))

    def release(self, job_id: str, worker_id: str, operation: str | None = None) -> Job | None:
        """Hand a running job back to the queue, its retries unspent (shutdown, full disk).

        ``operation`` says why, for the dashboard, until the job is claimed again.
        """
        params = (operation, _stamp(), job_id, worker_id)
        with self.db.transaction() as conn:
            job = self._one(self.db.execute_returning(SQL_RELEASE, params))
            if job is not None:
                self.db.dialect.notify(conn, QUEUE_CHANNEL)
        return job

    def finish_cancel(self, job_id: str, worker_id: str) -> Job | None:
        """The worker stopped a job it was told to cancel: mark it cancelled."""
        now = _stamp()
        rows = self.db.execute_returning(SQL_FINISH_CANCEL, (now, now, job_id, worker_id))
        return self._one(rows)

    def recover_expired(self, max_retries: int) -> Recovered:
        """Jobs whose worker stopped renewing its lease: requeue, fail or finish cancelling."""
        now = _stamp()
        with self.db.transaction() as conn:
            cancelled = self.db.execute_returning(SQL_RECOVER_CANCELLING, (now, now, now))
            failed = self.db.execute_returning(
                SQL_RECOVER_EXHAUSTED, (LOST_WORKER_MESSAGE, now, now, now, max_retries)
            )
            requeued = self.db.execute_returning(SQL_RECOVER_RUNNING, (now, now))
            if requeued:
                self.db.dialect.notify(conn, QUEUE_CHANNEL)
        result = Recovered(*(self._rows_to_models(r) for r in (requeued, failed, cancelled)))
        for job in result.requeued:
            logger.warning(
                "job %s: lease expired, back to pending (retry %d)", job.id, job.retry_count
            )
        for job in result.failed + result.cancelled:
            logger.warning("job %s: lease expired, now %s", job.id, job.status)
        return result
