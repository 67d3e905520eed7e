"""Repositories: every query the application runs, with bound values only."""

from .file_repository import FileRepository
from .job_repository import JobRepository
from .settings_repository import SettingsRepository

__all__ = ["FileRepository", "JobRepository", "SettingsRepository"]
