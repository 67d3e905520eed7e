"""Plan contracts: each repository query and the index it must use.

Tests run every contract on a database large enough for the planner to care
(with statistics); ``collector db explain`` prints them for a real database. The
SQL checked is what the repository method actually ran, captured as it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.config.database import DatabaseConfig, Statement
from collector.dialects import Connection, dialect_for
from collector.dialects.base import search_index, search_table
from collector.schema.plans import PlanStep, explain, plan_problems

from .file_repository import FileRepository
from .job_repository import JobRepository
from .paging import encode_cursor
from .queue import JobQueue
from .subscriptions import SubscriptionRepository


@dataclass(frozen=True)
class PrimaryKey:
    """The index behind a table's primary key, whatever the engine names it
    (``sqlite_autoindex_jobs_1`` on SQLite, ``jobs_pkey`` on PostgreSQL): the
    dialect reads its name from the catalogue when a contract is checked."""

    table: str

    def __str__(self) -> str:
        return f"the primary key of {self.table}"


IndexName = str | PrimaryKey
Wanted = IndexName | tuple[IndexName, ...] | None
PK_JOBS = PrimaryKey("jobs")
PK_FILES = PrimaryKey("files")
PK_SUBSCRIPTIONS = PrimaryKey("subscriptions")
# The subscriptions' samples: a channel (nothing is written when only recorded).
SUBSCRIPTION_SAMPLE_IDENTITY = "YoutubeTab:@plan-contract"
SUBSCRIPTION_SAMPLE_ID = "00000000-0000-0000-0000-000000000000"
# A table of a few rows (one per followed channel or playlist): a cost-based planner
# may read it whole rather than through an index, and the reading costs nothing.
# The queue's samples: nothing is queued or claimed when contracts are only recorded.
QUEUE_SAMPLE_URL = "https://www.youtube.com/watch?v=plan-contract"
QUEUE_SAMPLE_WORKER = "plan-contract-worker"
# The partial indexes of the dedupe look-up (see queue.py).
QUEUED_URL_INDEX = "idx_jobs_url_queued"
QUEUED_IDENTITY_INDEX = "idx_jobs_identity_queued"
QUEUE_SAMPLE_IDENTITY = "Youtube:plan-contract"
# The full-text structure over jobs' title, uploader and URL: SQLite's FTS5 table (its plan names
# the table) or PostgreSQL's GIN index. A search reads the matching rows through it and
# sorts them (newest first): never a scan of jobs.
SEARCH = (search_table("jobs"), search_index("jobs"))
SEARCH_SAMPLE = "4242"
# More jobs for the dashboard's thumbnails (a list of ids; none of them need exist).
THUMBNAIL_SAMPLE_JOBS = tuple(f"00000000-0000-0000-0000-{n:012d}" for n in range(1, 30))
# Both files indexes lead with job_id: the files of some jobs are read through either.
FILES_BY_JOB = ("idx_files_job_id", "idx_files_job_id_type")


@dataclass(frozen=True)
class Sample:
    """Values to call the queries with: an existing job id, a job with files."""

    job_id: str = "00000000-0000-0000-0000-000000000000"
    file_id: str = "00000000-0000-0000-0000-000000000000"
    # A cursor in the middle of the lists: pages after it must seek, not scan.
    cursor: str = encode_cursor(
        "2024-06-01 00:00:00.000000", "00000000-0000-0000-0000-000000000000"
    )


@dataclass(frozen=True)
class CostBased:
    """What a cost-based planner (``Features.cost_based_planner``: PostgreSQL) may do
    instead of the contract's plan, and why: SQLite is held to the contract as written.

    ``indexes``: other indexes it may use (an index in the list's order, walked with the
    filter applied until the LIMIT is met, when the filter matches a large share of the
    rows); ``scans``: tables it may read whole (an unbounded list of a large share of
    the table: the index would cost more), which drops the index requirement; ``sort``:
    it may sort the rows (a handful, found through an index).
    """

    why: str
    indexes: tuple[str, ...] = ()
    scans: frozenset[str] = frozenset()
    sort: bool = False


@dataclass(frozen=True)
class QueryContract:
    name: str
    call: Callable[[JobRepository, FileRepository, Sample], Any]
    # One entry per statement the method runs: the index it must use, a tuple of
    # indexes that serve it equally (the planner may pick either), or None.
    indexes: tuple[Wanted, ...]
    temp_sort_ok: bool = False
    scans_ok: frozenset[str] = frozenset()  # small derived tables read whole
    note: str = ""
    cost_based: CostBased | None = None
    # Indexes each statement must use besides its own entry (a search reads the full-text
    # structure, then the index its rows are fetched by).
    also: tuple[Wanted, ...] = ()


FEW_SUBSCRIPTIONS = CostBased(
    "the subscriptions table holds one row per followed channel: read whole, it is a page or two",
    scans=frozenset({"subscriptions"}),
    sort=True,
)


def _subs(j: JobRepository) -> SubscriptionRepository:
    return SubscriptionRepository(j.db)


# What PostgreSQL's planner may read the pending or running rows from instead of a status
# index: the partial indexes that hold exactly those rows (the smallest, the identities').
QUEUED_ROWS = CostBased(
    "the queued jobs' partial indexes hold the pending and running rows and nothing else: "
    "the smallest index to find them in, the status checked on each",
    indexes=("idx_jobs_identity_queued", "idx_jobs_url_queued"),
)


CONTRACTS: tuple[QueryContract, ...] = (
    QueryContract(
        "JobRepository.get_active_jobs",
        lambda j, f, s: j.get_active_jobs(),
        ("idx_jobs_active_created",),
        cost_based=CostBased(
            "the active rows (under 1%) found by the status index, then sorted: the planner "
            "costs that below the partial index's random reads for an unbounded list",
            indexes=("idx_jobs_status", "idx_jobs_status_created"),
            sort=True,
        ),
    ),
    QueryContract(
        "JobRepository.get_recent_jobs",
        lambda j, f, s: j.get_recent_jobs(10),
        ("idx_jobs_created_at",),
    ),
    QueryContract(
        "JobRepository.get_job_statistics",
        lambda j, f, s: j.get_job_statistics(),
        (None,),
        scans_ok=frozenset({"jobs_status_counts"}),
        note="reads the trigger-kept counts table: one row per status",
    ),
    QueryContract(
        "JobRepository.find_by(status)",
        lambda j, f, s: j.find_by(status="completed", limit=50),
        ("idx_jobs_status_created",),
        cost_based=CostBased(
            "90% of jobs are completed: the created_at index, filtered, meets the LIMIT first",
            indexes=("idx_jobs_created_at",),
        ),
    ),
    QueryContract(
        "JobRepository.find_by(platform)",
        lambda j, f, s: j.find_by(platform="youtube", limit=50),
        ("idx_jobs_platform",),
        cost_based=CostBased(
            "60% of jobs are youtube's: the created_at index, filtered, meets the LIMIT first",
            indexes=("idx_jobs_created_at",),
        ),
    ),
    QueryContract("JobRepository.get_job", lambda j, f, s: j.get_job(s.job_id), (PK_JOBS,)),
    QueryContract(
        "JobRepository.update_job_status",
        lambda j, f, s: j.update_job_status(s.job_id, "running"),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobRepository.complete_job", lambda j, f, s: j.complete_job(s.job_id), (PK_JOBS,)
    ),
    QueryContract("JobRepository.fail_job", lambda j, f, s: j.fail_job(s.job_id, "x"), (PK_JOBS,)),
    QueryContract(
        "JobRepository.delete_job",
        lambda j, f, s: j.delete_job(s.job_id),
        (("idx_files_job_id", "idx_files_job_id_type"), PK_JOBS),
        note="both files indexes lead with job_id; the planner picks either",
    ),
    QueryContract(
        "JobRepository.count",
        lambda j, f, s: j.count(),
        (None,),
        scans_ok=frozenset({"jobs_status_counts"}),
        note="sums the trigger-kept counts table",
    ),
    QueryContract(
        "FileRepository.create_file",
        lambda j, f, s: f.create_file(s.job_id, "/x.mp4", "video", 1),
        (PK_JOBS,),
    ),
    QueryContract("FileRepository.get_file", lambda j, f, s: f.get_file(s.file_id), (PK_FILES,)),
    QueryContract(
        "FileRepository.get_job_files",
        lambda j, f, s: f.get_job_files(s.job_id),
        ("idx_files_job_id",),
        note="the index is in created_at order: no sort",
    ),
    QueryContract(
        "FileRepository.get_files_by_type",
        lambda j, f, s: f.get_files_by_type("video"),
        ("idx_files_file_type",),
        cost_based=CostBased(
            "every video: a quarter of the files, unbounded; reading the table in order is "
            "cheaper than a quarter of it through the index",
            scans=frozenset({"files"}),
        ),
    ),
    QueryContract(
        "FileRepository.get_job_files_by_type",
        lambda j, f, s: f.get_job_files_by_type(s.job_id, "video"),
        ("idx_files_job_id_type",),
        note="the index is in created_at order: no sort",
    ),
    QueryContract(
        "FileRepository.get_orphaned_files",
        lambda j, f, s: f.get_orphaned_files(),
        (("idx_files_job_id", "idx_files_job_id_type"),),
        scans_ok=frozenset({"files_orphan_job_id"}),
        note="reads the trigger-kept orphan ids, then only their files",
        cost_based=CostBased(
            "the orphans' files are sorted after the join; with the foreign key enforced "
            "(PostgreSQL) there are none",
            sort=True,
        ),
    ),
    QueryContract(
        "FileRepository.count",
        lambda j, f, s: f.count(),
        (None,),
        scans_ok=frozenset({"files_file_type_counts"}),
        note="sums the trigger-kept counts table",
    ),
    QueryContract(
        "FileRepository.get_type_counts",
        lambda j, f, s: f.get_type_counts(),
        (None,),
        scans_ok=frozenset({"files_file_type_counts"}),
        note="reads the trigger-kept counts table: one row per type",
    ),
    QueryContract("JobRepository.page()", lambda j, f, s: j.page(), ("idx_jobs_created_at",)),
    QueryContract(
        "JobRepository.page(cursor)",
        lambda j, f, s: j.page(cursor=s.cursor),
        ("idx_jobs_created_at",),
    ),
    QueryContract(
        "JobRepository.page(status, cursor)",
        lambda j, f, s: j.page(status="failed", cursor=s.cursor),
        ("idx_jobs_status_created",),
    ),
    QueryContract(
        "JobRepository.page(platform, cursor)",
        lambda j, f, s: j.page(platform="tiktok", cursor=s.cursor),
        ("idx_jobs_platform",),
        cost_based=CostBased(
            "15% of jobs are tiktok's: the created_at index, filtered from the cursor, meets "
            "the LIMIT of 51 after about 340 rows",
            indexes=("idx_jobs_created_at",),
        ),
    ),
    QueryContract(
        "JobRepository.page(active, cursor)",
        lambda j, f, s: j.page(active=True, cursor=s.cursor),
        ("idx_jobs_active_created",),
    ),
    QueryContract(
        "JobRepository.page(q)",
        lambda j, f, s: j.page(q=SEARCH_SAMPLE),
        ("idx_jobs_created_at", SEARCH),
        temp_sort_ok=True,
        note="the walk: the list's index newest first, at most SEARCH_WALK rows, each "
        "checked (SQLite: its rowid against the FTS table's matches; PostgreSQL: its "
        "stored words), the page's rows sorted. The sample word's few matches leave the "
        "page short: then the gather, every match from the full-text structure, sorted",
    ),
    QueryContract(
        "JobRepository.page(q, status, cursor)",
        lambda j, f, s: j.page(q=SEARCH_SAMPLE, status="completed", cursor=s.cursor),
        ("idx_jobs_status_created", SEARCH),
        temp_sort_ok=True,
        note="the walk over the status index from the cursor, then the gather as page(q) "
        "(SQLite probes the matching rowids along the status index; PostgreSQL filters "
        "the matching rows by status and sorts them)",
        cost_based=CostBased(
            "most jobs are completed: the created_at index, filtered by status from the "
            "cursor, gives the walk's rows in order as cheaply; and where the walk's bound "
            "(SEARCH_WALK rows) is much of the table, reading the list whole and sorting it",
            indexes=("idx_jobs_created_at",),
            scans=frozenset({"jobs"}),
            sort=True,
        ),
    ),
    QueryContract(
        "FileRepository.page(cursor)",
        lambda j, f, s: f.page(cursor=s.cursor),
        ("idx_files_created_at",),
    ),
    QueryContract(
        "FileRepository.page(file_type, cursor)",
        lambda j, f, s: f.page(file_type="video", cursor=s.cursor),
        ("idx_files_file_type",),
        cost_based=CostBased(
            "a quarter of the files are videos: the created_at index, filtered from the "
            "cursor, meets the LIMIT of 51 after about 200 rows",
            indexes=("idx_files_created_at",),
        ),
    ),
    QueryContract(
        "FileRepository.page(q)",
        lambda j, f, s: f.page(q=SEARCH_SAMPLE),
        (FILES_BY_JOB,),
        also=(SEARCH,),
        temp_sort_ok=True,
        note="the matching jobs from the full-text structure, then their files through the "
        "index by job, sorted newest first",
    ),
    QueryContract(
        "FileRepository.page(q, file_type, cursor)",
        lambda j, f, s: f.page(q=SEARCH_SAMPLE, file_type="video", cursor=s.cursor),
        (FILES_BY_JOB,),
        also=(SEARCH,),
        temp_sort_ok=True,
        note="as page(q), the type read from the index by job and type where it is chosen",
    ),
    QueryContract(
        "FileRepository.get_thumbnails",
        lambda j, f, s: f.get_thumbnails([s.job_id, *THUMBNAIL_SAMPLE_JOBS]),
        (FILES_BY_JOB,),
        note="the dashboard's listed jobs: each job's images, one seek a job, no sort "
        "(idx_files_job_id_type; idx_files_job_id serves it too, should that one go)",
    ),
    # -- the queue (repositories/queue.py); the worker's writes all go by primary key --
    QueryContract(
        "JobQueue.find_queued",
        lambda j, f, s: JobQueue(j.db).find_queued(QUEUE_SAMPLE_URL),
        ((QUEUED_IDENTITY_INDEX, QUEUED_URL_INDEX, "idx_jobs_status_created", "idx_jobs_status"),),
        note="the dedupe look-up: the identity and url partial indexes (a union of two "
        "searches), or the pending and running rows",
    ),
    QueryContract(
        "JobQueue.find_queued_many",
        lambda j, f, s: JobQueue(j.db).find_queued_many(
            {QUEUE_SAMPLE_URL: QUEUE_SAMPLE_IDENTITY, QUEUE_SAMPLE_URL + "2": "url:x"}
        ),
        ((QUEUED_IDENTITY_INDEX, QUEUED_URL_INDEX, "idx_jobs_status_created", "idx_jobs_status"),),
        note="enqueue_many's look-up: as find_queued, for a batch",
    ),
    QueryContract(
        "JobQueue.known_identities",
        lambda j, f, s: JobQueue(j.db).known_identities([QUEUE_SAMPLE_IDENTITY, "url:x"]),
        ("idx_jobs_identity",),
        note="which of a listing's entries the library has: the identity index alone",
    ),
    QueryContract(
        "JobRepository.page(parent)",
        lambda j, f, s: j.page(parent=s.job_id),
        ("idx_jobs_parent",),
        note="a playlist's children in its order: the index forwards, no sort",
    ),
    QueryContract(
        "JobRepository.page(parent, cursor)",
        lambda j, f, s: j.page(parent=s.job_id, cursor=s.cursor),
        ("idx_jobs_parent",),
    ),
    QueryContract(
        "JobRepository.page(parent, status, cursor)",
        lambda j, f, s: j.page(parent=s.job_id, status="failed", cursor=s.cursor),
        ("idx_jobs_parent",),
        note="the status is the index's last column: filtered in the index",
    ),
    QueryContract(
        "JobRepository.children_counts",
        lambda j, f, s: j.children_counts(s.job_id),
        ("idx_jobs_parent",),
        temp_sort_ok=True,
        note="read from the index alone; the grouping sorts one row per status",
    ),
    QueryContract(
        "JobRepository.page(subscription, cursor)",
        lambda j, f, s: j.page(subscription=s.job_id, cursor=s.cursor),
        ("idx_jobs_subscription",),
    ),
    QueryContract(
        "JobQueue.claim",
        lambda j, f, s: JobQueue(j.db).claim(QUEUE_SAMPLE_WORKER, 60),
        ("idx_jobs_status_created",),
        note="the oldest pending job: the first entry of the status index, no sort",
        cost_based=CostBased(
            "the active partial index is in created_at order and holds the pending rows: "
            "its first pending entry, no sort",
            indexes=("idx_jobs_active_created",),
        ),
    ),
    QueryContract(
        "JobQueue.pending_wait",
        lambda j, f, s: JobQueue(j.db).pending_wait(),
        (("idx_jobs_status_created", "idx_jobs_status"),),
        note="reads the pending rows only",
        cost_based=QUEUED_ROWS,
    ),
    QueryContract(
        "JobQueue.has_claimable",
        lambda j, f, s: JobQueue(j.db).has_claimable(),
        (("idx_jobs_status_created", "idx_jobs_status"),),
        note="an idle worker's look after a change: the first pending row, no scan",
        cost_based=QUEUED_ROWS,
    ),
    QueryContract(
        "JobQueue.renew",
        lambda j, f, s: JobQueue(j.db).renew(s.job_id, QUEUE_SAMPLE_WORKER, 60),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.report_progress",
        lambda j, f, s: JobQueue(j.db).report_progress(
            s.job_id, QUEUE_SAMPLE_WORKER, 60, progress=50, bytes_downloaded=1, operation="x"
        ),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.complete",
        lambda j, f, s: JobQueue(j.db).complete(s.job_id, QUEUE_SAMPLE_WORKER),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.recover_expired",
        lambda j, f, s: JobQueue(j.db).recover_expired(3),
        (("idx_jobs_status_created", "idx_jobs_status"),) * 3,
        note="cancelling, exhausted and running jobs whose lease expired: status searches",
        cost_based=QUEUED_ROWS,
    ),
    QueryContract(
        "JobQueue.cancel",
        lambda j, f, s: JobQueue(j.db).cancel(s.job_id),
        (PK_JOBS, PK_JOBS),
        note="the second statement runs only when the update changed nothing (to say why)",
    ),
    # -- subscriptions (repositories/subscriptions.py) --------------------------------------
    QueryContract(
        "SubscriptionRepository.claim_due",
        lambda j, f, s: _subs(j).claim_due(QUEUE_SAMPLE_WORKER, 60),
        ("idx_subscriptions_due",),
        note="the most overdue unpaused subscription: the partial index's first entry; "
        "whether a lease is live: a probe of idx_subscriptions_check_expires",
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.any_due",
        lambda j, f, s: _subs(j).any_due(),
        ("idx_subscriptions_due",),
        note="a worker's look every few seconds: the partial index's first entry",
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.list_all",
        lambda j, f, s: _subs(j).list_all(),
        ("idx_subscriptions_created_at",),
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.get",
        lambda j, f, s: _subs(j).get(SUBSCRIPTION_SAMPLE_ID),
        (PK_SUBSCRIPTIONS,),
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.find_identity",
        lambda j, f, s: _subs(j).find_identity(SUBSCRIPTION_SAMPLE_IDENTITY),
        ("idx_subscriptions_identity",),
        note="one subscription per channel (create looks first): the unique index",
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.finish_check",
        lambda j, f, s: _subs(j).finish_check(SUBSCRIPTION_SAMPLE_ID, QUEUE_SAMPLE_WORKER),
        (PK_SUBSCRIPTIONS,),
        note="the held row by primary key; the update that follows when it is held is by "
        "primary key too (test_subscriptions.py checks its plan)",
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.renew_check",
        lambda j, f, s: _subs(j).renew_check(SUBSCRIPTION_SAMPLE_ID, QUEUE_SAMPLE_WORKER, 60),
        (PK_SUBSCRIPTIONS,),
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.remove",
        lambda j, f, s: _subs(j).remove(SUBSCRIPTION_SAMPLE_ID),
        (PK_SUBSCRIPTIONS,),
        cost_based=FEW_SUBSCRIPTIONS,
    ),
    QueryContract(
        "SubscriptionRepository.kept_jobs",
        lambda j, f, s: _subs(j).kept_jobs(s.job_id),
        ("idx_jobs_subscription",),
        note="keep the newest N: one subscription's jobs from the partial index, filtered "
        "by status; ordered by upload date in Python (a subscription's few hundred rows)",
    ),
    QueryContract(
        "SubscriptionRepository.mark_removed",
        lambda j, f, s: _subs(j).mark_removed(s.job_id),
        (("idx_files_job_id", "idx_files_job_id_type"), PK_JOBS),
        note="the job's file rows through either index that starts with job_id, then the "
        "job by primary key",
    ),
)


@dataclass
class CheckedStatement:
    statement: Statement
    steps: list[PlanStep]
    expected_index: str | tuple[str, ...] | None  # index names as this database has them
    problems: list[str]


def resolve_index(conn: Connection, wanted: Wanted) -> str | tuple[str, ...] | None:
    """A contract entry with every primary key named as this database names it."""

    def name(index: IndexName) -> str:
        if isinstance(index, PrimaryKey):
            return dialect_for(conn).primary_key_index(conn, index.table) or str(index)
        return index

    if wanted is None:
        return None
    if isinstance(wanted, tuple):
        return tuple(name(index) for index in wanted)
    return name(wanted)


def widen(
    wanted: str | tuple[str, ...] | None, allowance: CostBased | None
) -> str | tuple[str, ...] | None:
    """The indexes a statement may use once a cost-based planner's allowance is added
    (None, no particular index, where the allowance lets it read the table whole)."""
    if allowance is None or wanted is None:
        return wanted
    if allowance.scans:
        return None
    if not allowance.indexes:
        return wanted
    names = (wanted,) if isinstance(wanted, str) else wanted
    return names + tuple(i for i in allowance.indexes if i not in names)


def capture_statements(
    db: DatabaseConfig, contract: QueryContract, sample: Sample, execute: bool
) -> list[Statement]:
    """Run (or, with ``execute=False``, only record) one contract's repository call."""
    jobs, files = JobRepository(db), FileRepository(db)
    with db.capture(execute=execute) as statements:
        try:
            contract.call(jobs, files, sample)
        except ValueError:
            if execute:
                raise
            # A write that found nothing to change (nothing ran): the statement is recorded.
    return statements


def check_contract(
    db: DatabaseConfig, contract: QueryContract, sample: Sample, execute: bool = False
) -> list[CheckedStatement]:
    """The plan of every statement a repository method runs, checked against its contract."""
    statements = capture_statements(db, contract, sample, execute)
    conn = db.connection()
    allowance = contract.cost_based if db.dialect.features.cost_based_planner else None
    checked = []
    for position, statement in enumerate(statements):
        declared = contract.indexes[position] if position < len(contract.indexes) else None
        wanted = widen(resolve_index(conn, declared), allowance)
        steps = explain(conn, statement.sql, statement.params)
        problems = plan_problems(
            steps,
            wanted,
            temp_sort_ok=contract.temp_sort_ok or bool(allowance and allowance.sort),
            scans_ok=contract.scans_ok | (allowance.scans if allowance else frozenset()),
        )
        used = {step.index for step in steps if step.index}
        for extra in contract.also:
            names = resolve_index(conn, extra)
            names = (names,) if isinstance(names, str) else names or ()
            if not used.intersection(names):
                problems.append(
                    f"expected index {' or '.join(names)} too, plan uses {sorted(used)}"
                )
        if position >= len(contract.indexes):
            problems.append("statement not covered by the contract")
        checked.append(CheckedStatement(statement, steps, wanted, problems))
    if len(statements) < len(contract.indexes):
        checked.append(
            CheckedStatement(
                Statement("", ()),
                [],
                None,
                [f"expected {len(contract.indexes)} statements, ran {len(statements)}"],
            )
        )
    return checked


def sample_from(db: DatabaseConfig) -> Sample:
    """A sample whose job exists and has files (the newest file, the sample's file), and
    a cursor at the job halfway down the list (the (n // 2 + 1)-th oldest of n), found
    through the created_at indexes on either engine."""
    rows = db.execute_query(
        "SELECT job_id, id FROM files ORDER BY created_at DESC, id DESC LIMIT 1"
    )
    if rows:
        found = {"job_id": rows[0]["job_id"], "file_id": rows[0]["id"]}
    else:
        jobs = db.execute_query("SELECT id FROM jobs ORDER BY created_at DESC, id DESC LIMIT 1")
        if not jobs:
            return Sample()
        found = {"job_id": jobs[0]["id"]}
    total = JobRepository(db).count()  # the counts table, not a walk of jobs
    middle = db.execute_query(
        "SELECT created_at, id FROM jobs ORDER BY created_at, id LIMIT 1 OFFSET ?",
        (total // 2,),
    )
    if not middle:
        return Sample(**found)
    cursor = encode_cursor(middle[0]["created_at"], middle[0]["id"])
    return Sample(**found, cursor=cursor)
