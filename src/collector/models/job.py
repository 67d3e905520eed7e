"""Job: one URL to collect, and where its download stands."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from .base import BaseModel
from .fields import NOT_NULL, Column

STATUSES = ("pending", "running", "cancelling", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("pending", "running", "cancelling")
FINISHED_STATUSES = ("completed", "failed", "cancelled")
PLATFORMS = ("youtube", "instagram", "tiktok", "other")


class Job(BaseModel):
    """A download job: its URL, platform, status and progress."""

    table_name = "jobs"

    columns: ClassVar[dict[str, Column]] = {
        "url": Column("TEXT", nullable=False),
        "platform": Column("TEXT", nullable=False),
        "status": Column("TEXT", nullable=False, default="pending"),
        "title": Column("TEXT"),
        "progress": Column("INTEGER", nullable=False, default=0),
        "current_operation": Column("TEXT"),
        "error_message": Column("TEXT"),
        "retry_count": Column("INTEGER", nullable=False, default=0),
        "bytes_downloaded": Column("INTEGER", nullable=False, default=0),
        "completed_at": Column("TIMESTAMP"),
        # The queue (repositories/queue.py): who holds a running job and until when,
        # and when a job waiting after a transient failure may be claimed again.
        "worker_id": Column("TEXT"),
        "lease_expires_at": Column("TIMESTAMP"),
        "next_attempt_at": Column("TIMESTAMP"),
        # The format asked for (models/formats.py); NULL: the default_format setting.
        "format": Column("TEXT"),
        # What the extracted information said, once known (set when the download ends).
        "uploader": Column("TEXT"),
        "duration": Column("INTEGER"),  # seconds
        "upload_date": Column("TEXT"),  # YYYY-MM-DD
        "extractor": Column("TEXT"),
        "extractor_id": Column("TEXT"),
        # What the URL is, by yt-dlp's extractors (repositories/identity.py): a video
        # queued under two spellings, or as a playlist's entry, is one job.
        "identity": Column("TEXT"),
        # A playlist or channel: the entries its listing found (NULL: a single video).
        "entries": Column("INTEGER"),
        # The playlist job whose listing queued this one, and the subscription whose
        # check did (models/subscription.py); NULL for a job queued by hand.
        "parent_id": Column("TEXT"),
        "subscription_id": Column("TEXT"),
        # When a subscription's "keep the newest N" rule removed this job's files (the
        # job stays, so the video is known and not queued again).
        "removed_at": Column("TIMESTAMP"),
    }

    # Where the engine has them (PostgreSQL), storage settings for a table whose running
    # rows are updated once a second each (a worker's progress): pages filled to 85%
    # keep room for a row's new version on its own page, so the update is HOT (no
    # index holds a progress column, so none is touched); and vacuum and analyze come
    # after 5% and 2% of the rows changed instead of the server's 20% and 10%.
    storage: ClassVar[dict[str, int | float]] = {
        "fillfactor": 85,
        "autovacuum_vacuum_scale_factor": 0.05,
        "autovacuum_analyze_scale_factor": 0.02,
    }

    # Jobs per status, exact at all times without a scan (get_job_statistics, count).
    counted_by: ClassVar[tuple[str, ...]] = ("status",)

    # Searched by words (JobRepository.page(q=...)): the title, the uploader and the URL.
    search: ClassVar[tuple[str, ...]] = ("title", "uploader", "url")

    # The plan's four indexes under the plan's names, plus one partial index.
    # Every list is newest first and paged by keyset on (created_at, id), so the
    # indexes that serve lists end with (created_at, id): no sort, any page depth.
    # Ascending, unlike the plan's DESC: SQLite walks them backwards for newest
    # first with the same plans and speed, and a new row lands at the right-hand
    # end instead of the left, which made each one 13-35% cheaper to keep up on
    # insert (docs/indexes.md). idx_jobs_active_created exists because the planner
    # walks idx_jobs_created_at for "active jobs newest first".
    indexes: ClassVar[list[dict[str, Any]]] = [
        {"columns": ["status"], "unique": False, "name": "idx_jobs_status"},
        {
            "columns": ["platform", "created_at", "id"],
            "name": "idx_jobs_platform",
        },
        {
            "columns": ["created_at", "id"],
            "unique": False,
            "name": "idx_jobs_created_at",
        },
        {
            "columns": ["status", "created_at", "id"],
            "unique": False,
            "name": "idx_jobs_status_created",
        },
        {
            # Covering: the keyset order, then every other column, so the active
            # list (the dashboard polls it for live progress) never reads the
            # table, where active rows lie scattered among a million finished ones
            # (docs/indexes.md). It holds the active jobs only.
            "columns": ["created_at", "id", "updated_at", *columns],
            "where": {"status": list(ACTIVE_STATUSES)},
            "name": "idx_jobs_active_created",
        },
        {
            # Queueing looks a URL up among the pending and running jobs (one job per
            # URL while queued): one probe of this index, however long the queue,
            # where the active index above would be walked whole (docs/queue.md).
            # Not unique: databases from before the queue may hold duplicates.
            "columns": ["url"],
            "where": {"status": ["pending", "running"]},
            "name": "idx_jobs_url_queued",
        },
        {
            # One queued job per video, however its URL is spelled: unique among the
            # pending and running jobs (NULL, a job from before identities, is never
            # equal to another). Queueing probes it as it probes idx_jobs_url_queued.
            "columns": ["identity"],
            "unique": True,
            "where": {"status": ["pending", "running"]},
            "name": "idx_jobs_identity_queued",
        },
        {
            # Whether the library already has a video, in any status: a playlist's or
            # a subscription's entries are queued only when it has not.
            "columns": ["identity"],
            "where": {"identity": NOT_NULL},
            "name": "idx_jobs_identity",
        },
        {
            # A playlist's children in its order, and their statuses read from the
            # index alone ("n of m done"). These three hold the rows that have a
            # value only (models/fields.py NOT_NULL): most jobs have none.
            "columns": ["parent_id", "created_at", "id", "status"],
            "where": {"parent_id": NOT_NULL},
            "name": "idx_jobs_parent",
        },
        {
            # A subscription's jobs, newest first, and their statuses (keep newest N).
            "columns": ["subscription_id", "created_at", "id", "status"],
            "where": {"subscription_id": NOT_NULL},
            "name": "idx_jobs_subscription",
        },
    ]

    id: str
    created_at: datetime
    updated_at: datetime
    url: str
    platform: str
    status: str
    title: str | None
    progress: int
    current_operation: str | None
    error_message: str | None
    retry_count: int
    bytes_downloaded: int
    completed_at: datetime | None
    worker_id: str | None
    lease_expires_at: datetime | None
    next_attempt_at: datetime | None
    format: str | None
    uploader: str | None
    duration: int | None
    upload_date: str | None
    extractor: str | None
    extractor_id: str | None
    identity: str | None
    entries: int | None
    parent_id: str | None
    subscription_id: str | None
    removed_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_playlist(self) -> bool:
        return self.entries is not None
