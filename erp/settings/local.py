"""A developer's machine and the embedded demo: plain http on localhost, debug on."""

import os

os.environ.setdefault("SECRET_KEY", "local-only-insecure-key-never-used-in-production-0123456789")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from .base import *  # noqa: F403

ALLOWED_HOSTS = ["*"]
