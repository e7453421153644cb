"""The test run: real PostgreSQL and real Redis, as in production."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-insecure-key-never-used-in-production-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/erp")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault(
    "STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

from .base import *  # noqa: F403

ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Sign-in throttling is switched on only by the tests of it (tests/security), so no other
# test's failed sign-ins can lock out the users it shares.
AXES_ENABLED = False
# Webhook secrets are read on every delivery, so a test that changes them sees it at once.
ERP_WEBHOOK_SECRETS_TTL = 0
