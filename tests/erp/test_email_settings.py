"""Customer e-mail goes to the SMTP server the environment names (EMAIL_HOST, EMAIL_PORT), as
the load test's SMTP sink (bench/sinks.py) relies on."""

from tests.erp.test_deploy_settings import PRODUCTION_ENV, run_manage


def test_production_settings_take_the_smtp_server_from_the_environment():
    env = {**PRODUCTION_ENV, "EMAIL_HOST": "mail.internal.example", "EMAIL_PORT": "2525"}

    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.EMAIL_HOST, settings.EMAIL_PORT)",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mail.internal.example", "2525"]
