"""Project package and core app: settings, URLs, the Celery app and master data."""

from .celery import app as celery_app

__all__ = ["celery_app"]
