"""A database as the plan's pre-index code wrote it.

Same tables and columns as today, but: no indexes beyond the primary keys, no
foreign key on files.job_id, uuid4 ids, and timestamps in the shape Python's
sqlite3 default adapter gave ``datetime.utcnow()`` (``datetime.isoformat(" ")``:
``2025-02-17 10:00:00.123456``, or ``2025-02-17 10:00:00`` when the microseconds
were zero). It also holds orphaned file rows, which that code could leave behind.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    url TEXT NOT NULL,
    platform TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    title TEXT,
    progress INTEGER DEFAULT 0,
    current_operation TEXT,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0,
    bytes_downloaded INTEGER DEFAULT 0,
    completed_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    job_id TEXT NOT NULL,
    file_path TEXT NOT NULL,
    file_type TEXT NOT NULL,
    file_size INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
"""

# Legacy rows: (status, created_at) in insertion order, not in time order.
LEGACY_JOBS = [
    ("completed", datetime(2025, 2, 17, 10, 0, 0, 123456)),
    ("failed", datetime(2025, 2, 17, 10, 0, 0)),  # no fraction: microsecond == 0
    ("pending", datetime(2025, 2, 17, 9, 59, 59, 999999)),
    ("running", datetime(2025, 2, 18, 8, 30, 0, 500000)),
    ("completed", datetime(2025, 2, 16, 23, 0, 0)),
]
ORPHAN_JOB_ID = "9b2f5c1e-0000-4000-8000-00000000dead"


def adapt(value: datetime) -> str:
    """What sqlite3's default datetime adapter stored."""
    return value.isoformat(" ")


def create_legacy_database(path: Path, drop_columns: tuple[str, ...] = ()) -> dict:
    """Write the legacy schema and rows; return what was written, for comparison.

    ``drop_columns`` leaves the named jobs columns out, as an older version might have.
    """
    schema = LEGACY_SCHEMA
    for column in drop_columns:
        schema = "\n".join(line for line in schema.splitlines() if f"    {column} " not in line)
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    job_ids = []
    for number, (status, created) in enumerate(LEGACY_JOBS):
        job_id = str(uuid.uuid4())
        job_ids.append(job_id)
        completed = adapt(created + timedelta(minutes=1)) if status == "completed" else None
        conn.execute(
            "INSERT INTO jobs (id, created_at, updated_at, url, platform, status, title, "
            "completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                adapt(created),
                adapt(created),
                f"https://youtube.com/watch?v={number}",
                "youtube",
                status,
                f"Legacy {number}",
                completed,
            ),
        )
        for kind in ("video", "metadata"):
            conn.execute(
                "INSERT INTO files (id, created_at, updated_at, job_id, file_path, file_type, "
                "file_size) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    adapt(created),
                    adapt(created),
                    job_id,
                    f"/downloads/{job_id}/{kind}",
                    kind,
                    1000 + number,
                ),
            )
    orphan_ids = [str(uuid.uuid4()) for _ in range(2)]
    for orphan_id in orphan_ids:
        conn.execute(
            "INSERT INTO files (id, created_at, updated_at, job_id, file_path, file_type, "
            "file_size) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                orphan_id,
                "2025-02-15 12:00:00",
                "2025-02-15 12:00:00",
                ORPHAN_JOB_ID,
                f"/downloads/{ORPHAN_JOB_ID}/{orphan_id}",
                "video",
                5,
            ),
        )
    conn.execute(
        "INSERT INTO settings (key, value, created_at, updated_at) VALUES (?, ?, ?, ?)",
        ("download_dir", "/srv/media", "2025-02-17 10:00:00", "2025-02-17 10:00:00"),
    )
    conn.commit()
    conn.close()
    return {"job_ids": job_ids, "orphan_file_ids": orphan_ids}
