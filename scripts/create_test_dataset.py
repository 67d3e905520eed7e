"""Create a test dataset for performance testing (the plan's script, section 9).

Thin: the work is ``collector.bench.dataset`` (also ``collector bench dataset``).
Unlike the plan's version, rows are bulk-inserted through the repositories' own
INSERT statements rather than one create_job() call each, so a million jobs take
seconds, not hours. The plan's uniform mix is the default, as in the plan.

    python scripts/create_test_dataset.py [--jobs 1000] [--files-per-job 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from collector.bench.dataset import MIXES, write_dataset
from collector.config.database import DatabaseConfig, get_db_config
from collector.models import ALL_MODELS
from collector.repositories import FileRepository, JobRepository


def create_test_dataset(
    num_jobs: int = 1000,
    files_per_job: int = 3,
    mix: str = "plan",
    seed: int | None = None,
    db_path: str | Path | None = None,
) -> None:
    """Add ``num_jobs`` jobs with 1 to files_per_job + 1 files each to a database.

    The database is ``db_path``, else the app's (COLLECTOR_DB_PATH or the default);
    its schema is brought up to date first. Without a seed a random one is drawn,
    so running it twice adds two different sets of jobs.
    """
    db = DatabaseConfig(db_path) if db_path is not None else get_db_config()
    db.initialize_schema(ALL_MODELS)
    seed = random.randrange(2**32) if seed is None else seed
    print(f"Creating {num_jobs} jobs ({mix} mix, seed {seed})...")
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done += count
        print(f"  Created {done} jobs...")

    write_dataset(db, num_jobs, files_per_job, mix, seed, progress=progress)
    print("\nDataset creation complete!")
    print(f"  Jobs: {JobRepository(db).count()}")
    print(f"  Files: {FileRepository(db).count()}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Create a test dataset.")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--files-per-job", type=int, default=3)
    parser.add_argument("--mix", choices=MIXES, default="plan")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--db", help="database path (default: COLLECTOR_DB_PATH)")
    args = parser.parse_args()
    if args.jobs < 1 or args.files_per_job < 0:
        parser.error("--jobs must be 1 or more and --files-per-job 0 or more")
    create_test_dataset(args.jobs, args.files_per_job, args.mix, args.seed, args.db)


if __name__ == "__main__":
    main()
