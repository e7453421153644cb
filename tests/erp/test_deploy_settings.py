"""Production settings pass Django's deployment checklist with the documented environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "erp.settings.base",
    "SECRET_KEY": "k7$Jq2!vN9xZ#pL4wR8tY1uB6mC3eH5gF0aS-dK_oI+nM=zX^rT&yU*vW(qE)",
    "ALLOWED_HOSTS": "returns.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/erp",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


SETTING_PREFIXES = (
    "DEBUG",
    "SECRET_KEY",
    "SECURE_",
    "SESSION_",
    "CSRF_",
    "STATICFILES_",
    "CELERY_",
)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The test run's own settings put development values in os.environ; drop them.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_reports_no_issues_under_production_values():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment" in result.stderr


def test_debug_left_on_in_production_is_flagged():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, "DEBUG": "true"}
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr
