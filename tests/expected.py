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

# The jobs table's indexes in declaration order: the plan's four, then the schema's own.
JOB_INDEXES = (
    "idx_jobs_status",
    "idx_jobs_platform",
    "idx_jobs_created_at",
    "idx_jobs_status_created",
    "idx_jobs_active_created",
    "idx_jobs_url_queued",
    "idx_jobs_identity_queued",
    "idx_jobs_identity",
    "idx_jobs_parent",
    "idx_jobs_subscription",
)

# The subscriptions table's indexes in declaration order: due checks, the live lease,
# one subscription per channel, the list.
SUBSCRIPTION_INDEXES = (
    "idx_subscriptions_due",
    "idx_subscriptions_check_expires",
    "idx_subscriptions_identity",
    "idx_subscriptions_created_at",
)

# The indexes the schema declares beyond the plan's: the covering active index, the
# queue's URL and identity look-ups (partial), the library's identities, a playlist's
# children and a subscription's jobs; and the subscriptions' own.
ADDED_INDEXES = frozenset(JOB_INDEXES[4:]) | frozenset(SUBSCRIPTION_INDEXES)

# The jobs table's columns in declaration order: the plan's, the queue's, then the
# format, what the extracted information said of the media, the identity, and the
# playlist and subscription a job belongs to.
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
    "identity",
    "entries",
    "parent_id",
    "subscription_id",
    "removed_at",
)
