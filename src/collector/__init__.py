"""collector: queue URLs, download them with yt-dlp, watch them on a dashboard."""

__version__ = "0.1.0"
