"""The download worker: yt-dlp as a library, and the claim/lease loop around it."""

from .engine import Downloader, DownloadResult, ProgressUpdate
from .errors import DownloadFailed, DownloadStopped, clean_message
from .loop import DEFAULT_LEASE_SECONDS, Worker

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DownloadFailed",
    "DownloadResult",
    "DownloadStopped",
    "Downloader",
    "ProgressUpdate",
    "Worker",
    "clean_message",
]
