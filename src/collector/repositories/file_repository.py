"""FileRepository: the files jobs left, by job, by type, and the orphans."""

from __future__ import annotations

from collections.abc import Sequence

from collector.models.file import FILE_TYPES, File
from collector.models.values import to_db_timestamp, utcnow
from collector.schema.derived import counts_table, orphans_table
from collector.schema.sql import placeholders

from .base import Repository, check_choice
from .job_repository import search_term, search_words
from .paging import DEFAULT_PAGE, Page

SQL_CREATE = (
    "INSERT INTO files (id, created_at, updated_at, job_id, file_path, file_type, file_size, "
    "host) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?)"
)
SQL_GET = "SELECT * FROM files WHERE id = ?"
SQL_JOB_FILES = "SELECT * FROM files WHERE job_id = ? ORDER BY created_at ASC"
SQL_BY_TYPE = "SELECT * FROM files WHERE file_type = ?"
SQL_JOB_FILES_BY_TYPE = (
    "SELECT * FROM files WHERE job_id = ? AND file_type = ? ORDER BY created_at ASC"
)
# The images of some jobs (their thumbnails: yt-dlp's writethumbnail), for a list of
# jobs in one statement: idx_files_job_id_type finds each job's images.
SQL_JOBS_IMAGES = "SELECT * FROM files WHERE job_id IN ({ids}) AND file_type = ?"
# The plan's LEFT JOIN scans every file and probes jobs for each: O(files). The
# orphaned job ids are kept exact by triggers (schema/derived.py), so this reads
# only the orphans' rows, through idx_files_job_id.
ORPHANS = orphans_table("files", "job_id")
SQL_ORPHANS = (
    f"SELECT * FROM files WHERE job_id IN (SELECT job_id FROM {ORPHANS}) "
    "ORDER BY job_id, created_at"
)
SQL_DELETE_ORPHANS = f"DELETE FROM files WHERE job_id IN (SELECT job_id FROM {ORPHANS})"
# The files of the jobs a search finds: the matching jobs from the full-text structure,
# then their files through the index by job (idx_files_job_id, or idx_files_job_id_type
# with a type), sorted newest first: a search narrows the jobs to a few.
SEARCHED_JOBS = "job_id IN (SELECT id FROM jobs WHERE {term})"
SQL_TYPE_COUNTS = (
    f'SELECT file_type, SUM("count") AS "count" FROM {counts_table("files", "file_type")} '
    "GROUP BY file_type"
)


class FileRepository(Repository[File]):
    """Files: record them, list them for a job or a media type, find orphans."""

    model = File

    def create_file(
        self,
        job_id: str,
        file_path: str,
        file_type: str,
        file_size: int,
        host: str | None = None,
    ) -> File:
        """Record a file of an existing job (ValueError if the job does not exist).

        ``host``: the machine whose worker wrote it (None: not known)."""
        if host is not None and (not isinstance(host, str) or not host.strip()):
            raise ValueError(f"host must be a non-empty string or None, not {host!r}")
        check_choice("file type", file_type, FILE_TYPES)
        if isinstance(file_size, bool) or not isinstance(file_size, int) or file_size < 0:
            raise ValueError(f"file_size must be a non-negative integer, not {file_size!r}")
        if not isinstance(file_path, str) or not file_path:
            raise ValueError("file_path must be a non-empty string")
        now = utcnow()
        record = File(
            job_id=job_id,
            file_path=file_path,
            file_type=file_type,
            file_size=file_size,
            host=host,
            created_at=now,
            updated_at=now,
        )
        stamp = to_db_timestamp(now)
        params = (record.id, stamp, stamp, job_id, file_path, file_type, file_size, host, job_id)
        if not self.db.execute_update(SQL_CREATE, params):
            raise ValueError(f"no job with id {job_id!r}")
        return record

    def page(
        self,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        file_type: str | None = None,
        q: str | None = None,
    ) -> Page[File]:
        """A page of files, newest first, optionally of one type, and with ``q``: only
        the files of the jobs whose title, uploader or URL holds every word of ``q``
        (as JobRepository.page searches; ValueError if it has no words)."""
        terms: list[str] = []
        params: list[str] = []
        if file_type is not None:
            terms.append("file_type = ?")
            params.append(check_choice("file type", file_type, FILE_TYPES))
        if q is not None:
            term, value = search_term(self.db.dialect, search_words(q))
            terms.append(SEARCHED_JOBS.format(term=term))
            params.append(value)
        return self._page(terms, list(params), cursor, limit)

    def get_file(self, file_id: str) -> File | None:
        """One file by id, or None."""
        return self._one(self.db.execute_query(SQL_GET, (file_id,)))

    def get_job_files(self, job_id: str) -> list[File]:
        """A job's files, oldest first."""
        return self._select(SQL_JOB_FILES, (job_id,))

    def get_files_by_type(self, file_type: str) -> list[File]:
        """Every file of one type (video, audio, image, metadata)."""
        check_choice("file type", file_type, FILE_TYPES)
        return self._select(SQL_BY_TYPE, (file_type,))

    def get_video_files(self) -> list[File]:
        return self.get_files_by_type("video")

    def get_audio_files(self) -> list[File]:
        return self.get_files_by_type("audio")

    def get_image_files(self) -> list[File]:
        return self.get_files_by_type("image")

    def get_metadata_files(self) -> list[File]:
        return self.get_files_by_type("metadata")

    def get_job_files_by_type(self, job_id: str, file_type: str) -> list[File]:
        """A job's files of one type, oldest first."""
        check_choice("file type", file_type, FILE_TYPES)
        rows = self.db.execute_query(SQL_JOB_FILES_BY_TYPE, (job_id, file_type))
        return self._rows_to_models(rows)

    def get_thumbnails(self, job_ids: Sequence[str]) -> dict[str, File]:
        """Each listed job's thumbnail, by job id: its first file of type image (as the
        job page shows it); a job without one is left out. One statement for them all."""
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}
        sql = SQL_JOBS_IMAGES.format(ids=placeholders(len(wanted)))
        found: dict[str, File] = {}
        for image in self._select(sql, [*wanted, "image"]):
            kept = found.get(image.job_id)
            if kept is None or (image.created_at, image.id) < (kept.created_at, kept.id):
                found[image.job_id] = image
        return found

    def get_type_counts(self) -> dict[str, int]:
        """Files per type; every type present, zero if none."""
        counts = dict.fromkeys(FILE_TYPES, 0)
        for row in self.db.execute_query(SQL_TYPE_COUNTS):
            counts[row["file_type"]] = int(row["count"])
        return counts

    def get_orphaned_files(self) -> list[File]:
        """File rows whose job no longer exists (left by older versions)."""
        return self._select(SQL_ORPHANS)

    def delete_orphaned_files(self) -> int:
        """Remove the orphaned file rows (not the files on disk); return how many."""
        return self.db.execute_update(SQL_DELETE_ORPHANS)
