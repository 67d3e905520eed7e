"""A fleet on one machine for the load and fault runs: ``collector serve`` and workers.

Each process is the real command (``python -m collector``) on one database, with
its output in a log file of its own under the run's folder, so a run can count
what the processes logged ("database is locked", tracebacks) after the fact.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseConfig
from collector.repositories import JobRepository
from collector.schema.sql import quote_identifier

STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Fleet:
    """Processes of one run: started with ``serve()``/``worker()``, all stopped by ``stop()``."""

    def __init__(
        self,
        folder: Path,
        db_path: str | Path,
        allowed_hosts: str = "127.0.0.1",
        downloads: Path | None = None,
    ) -> None:
        """``db_path``: the run's SQLite file, or a server database's URL (postgresql://)."""
        self.folder = folder
        self.db_path = db_path
        self.env = {
            **os.environ,
            "COLLECTOR_DOWNLOAD_DIR": str(downloads or folder / "downloads"),
            "COLLECTOR_ALLOWED_HOSTS": allowed_hosts,
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("COLLECTOR_TOKEN", None)
        # The run's database is the one given: nothing in the caller's environment may win.
        self.env.pop("COLLECTOR_DATABASE_URL", None)
        self.env.pop("COLLECTOR_DB_PATH", None)
        if self.url is None:
            self.env["COLLECTOR_DB_PATH"] = str(db_path)
        else:
            self.env["COLLECTOR_DATABASE_URL"] = self.url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.port: int | None = None

    @property
    def url(self) -> str | None:
        """The run's database URL when it is a server's, else None (an SQLite file)."""
        return self.db_path if isinstance(self.db_path, str) and "://" in self.db_path else None

    def command(self, *args: str) -> list[str]:
        where = ["--database-url", self.url] if self.url else ["--db", str(self.db_path)]
        return [sys.executable, "-m", "collector", *where, *args]

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            self.command(*args), env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[name] = process
        return process

    def run(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """A command to its end: its exit code and output."""
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def serve(self, workers: int = 0, timeout: float = 60.0) -> int:
        """``collector serve`` on a free port; returns once /healthz answers (even 503)."""
        self.port = free_port()
        process = self.start("serve", "serve", "--port", str(self.port), "--workers", str(workers))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"collector serve exited: see {self.folder / 'serve.log'}")
            try:
                request(self.port, "GET", "/healthz")
                return self.port
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"collector serve did not answer within {timeout:.0f} s")

    def worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", *args)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every process, wait for each; their exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.processes.clear()
        return codes

    # -- what the run's database holds (read after or between the processes' work) ------

    @contextlib.contextmanager
    def database(self) -> Iterator[DatabaseConfig]:
        """The run's database on a connection of its own, closed afterwards."""
        db = DatabaseConfig(self.db_path)
        try:
            yield db
        finally:
            db.dispose()

    def engine(self) -> str:
        """The run's engine and its version, for reports."""
        with self.database() as db:
            return f"{db.dialect.display_name} ({db.dialect.version})"

    def query(self, sql: str) -> list[Any]:
        """The rows of ``sql`` on the run's database."""
        with self.database() as db:
            return db.execute_query(sql)

    def count(self, sql: str) -> int:
        return int(self.query(sql)[0][0])

    def statuses(self) -> dict[str, int]:
        """Jobs per status, counted by GROUP BY (what the trigger-kept counts must equal)."""
        rows = self.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    def counted_statuses(self) -> dict[str, int]:
        """Jobs per status as the application reads them (the trigger-kept counts), non-zero."""
        with self.database() as db:
            counts = JobRepository(db).get_job_statistics()
        return {status: n for status, n in counts.items() if n}

    def job_ids(self) -> set[str]:
        return {row["id"] for row in self.query("SELECT id FROM jobs")}

    def row_counts(self) -> dict[str, int]:
        return {
            table: self.count("SELECT COUNT(*) FROM " + quote_identifier(table))
            for table in ("jobs", "files")
        }

    def integrity(self) -> str:
        """ "ok", or the first problem the engine's integrity check finds ("not run: why"
        where the engine has no check of its own: PostgreSQL without amcheck)."""
        with self.database() as db:
            try:
                return (db.integrity_check() or ["ok"])[0]
            except NotImplementedError as exc:
                return f"not run: {exc}"

    def indexes(self, prefix: str) -> int:
        """How many indexes whose name starts with ``prefix`` the run's database holds."""
        with self.database() as db:
            conn = db.connection()
            return sum(
                info.name.startswith(prefix)
                for table in db.dialect.table_names(conn)
                for info in db.dialect.table_indexes(conn, table)
            )

    def add(self, urls: list[str]) -> list[str]:
        """``collector add --json`` of ``urls``: the ids of their jobs."""
        done = self.run("add", "--json", *urls)
        if done.returncode != 0:
            raise RuntimeError(f"collector add failed: {done.stderr.strip()}")
        return [job["id"] for job in json.loads(done.stdout)]

    def logged(self, needle: str) -> int:
        """Lines containing ``needle`` (case-insensitive) in every process's log."""
        needle = needle.lower()
        count = 0
        for log in self.folder.glob("*.log"):
            with log.open(errors="replace") as lines:
                count += sum(needle in line.lower() for line in lines)
        return count


def wait_for(condition: Callable[[], Any], timeout: float, poll: float = 0.1) -> Any:
    """The first true value of ``condition()`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    return None


def request(
    port: int,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    connection: http.client.HTTPConnection | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One request to the fleet's web app: status and body (a new connection unless given)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if connection is None:
            conn.close()
