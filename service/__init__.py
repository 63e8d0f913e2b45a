"""viewcount: view counts and rankings for news and content sites, on Redis."""

__version__ = "0.1.0"
