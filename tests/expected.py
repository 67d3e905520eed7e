"""Names the plan and the models fix, written out once for the tests to compare against."""

# The eight indexes the plan names, under its names.
PLAN_INDEXES = frozenset(
    {
        "idx_jobs_status",
        "idx_jobs_platform",
        "idx_jobs_created_at",
        "idx_jobs_status_created",
        "idx_files_job_id",
        "idx_files_file_type",
        "idx_files_created_at",
        "idx_files_job_id_type",
    }
)

# The indexes the schema declares beyond the plan's: the covering active index and the
# queue's URL look-up (both partial).
ADDED_INDEXES = frozenset({"idx_jobs_active_created", "idx_jobs_url_queued"})

# The jobs table's columns in declaration order: the plan's, the queue's, then the
# format and what the extracted information said of the media.
JOB_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "url",
    "platform",
    "status",
    "title",
    "progress",
    "current_operation",
    "error_message",
    "retry_count",
    "bytes_downloaded",
    "completed_at",
    "worker_id",
    "lease_expires_at",
    "next_attempt_at",
    "format",
    "uploader",
    "duration",
    "upload_date",
    "extractor",
    "extractor_id",
)
