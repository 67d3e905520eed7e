"""File: one file a job left in the download folder."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from .base import BaseModel
from .fields import Column

FILE_TYPES = ("video", "audio", "image", "metadata")


class File(BaseModel):
    """A downloaded file, owned by a job."""

    table_name = "files"

    columns: ClassVar[dict[str, Column]] = {
        "job_id": Column("TEXT", nullable=False, references="jobs.id", on_delete="CASCADE"),
        "file_path": Column("TEXT", nullable=False),
        "file_type": Column("TEXT", nullable=False),
        "file_size": Column("INTEGER", nullable=False, default=0),
        # The host whose worker wrote the file (a fleet's workers run on several
        # machines); NULL for files recorded before hosts were.
        "host": Column("TEXT"),
    }

    # Files per type, exact at all times without a scan (the library's tabs, count).
    counted_by: ClassVar[tuple[str, ...]] = ("file_type",)

    indexes: ClassVar[list[dict[str, Any]]] = [
        {"columns": ["job_id", "created_at"], "unique": False, "name": "idx_files_job_id"},
        {
            "columns": ["file_type", "created_at", "id"],
            "unique": False,
            "name": "idx_files_file_type",
        },
        {
            "columns": ["created_at", "id"],
            "unique": False,
            "name": "idx_files_created_at",
        },
        {
            "columns": ["job_id", "file_type", "created_at"],
            "unique": False,
            "name": "idx_files_job_id_type",
        },
    ]

    id: str
    created_at: datetime
    updated_at: datetime
    job_id: str
    file_path: str
    file_type: str
    file_size: int
    host: str | None
