"""Security plumbing shared by every app: denial logging, sign-in lockout page, the Swagger UI
page's own content security policy and the append-only history tables.

- `DenialLogMiddleware` writes one structured record on the "erp.security" logger for every
  403 the app answers (a view's PermissionDenied, DRF's permission refusal, a CSRF failure).
- `login_lockout_response` is django-axes' AXES_LOCKOUT_CALLABLE: the sign-in page again, 429,
  saying why and for how long.
- `SwaggerUIView`: the API docs with their start-up script served as a file (no inline script),
  allowed the one inline <style> block of drf-spectacular's template by its hash.
- `history_protect` installs a trigger on every django-simple-history table that refuses
  UPDATE and DELETE (PostgreSQL, and SQLite for the embedded demo); `history_rewrite_allowed`
  lifts it for one transaction (the demo reset, which deletes the demo's own history).
"""

import base64
import hashlib
import logging
import re
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import drf_spectacular
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection, transaction
from django.forms.utils import ErrorDict
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView

logger = logging.getLogger("erp.security")


# --- Denials ------------------------------------------------------------------------------


def denial_log(*, request, status: int) -> None:
    """Effects: one WARNING record on "erp.security" naming who was refused what.

    The record carries `user`, `role`, `method`, `path` and `status` as attributes (for a JSON
    formatter or a log shipper) and in its message (for the plain console format). The query
    string is left out: it may carry a token or personal data.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        username = user.get_username()
        roles = ",".join(sorted(group.name for group in user.groups.all())) or "none"
    else:
        username, roles = "anonymous", "anonymous"
    record = {
        "user": username,
        "role": roles,
        "method": request.method,
        "path": request.path,
        "status": status,
    }
    logger.warning(
        "access denied user=%(user)s role=%(role)s method=%(method)s path=%(path)s "
        "status=%(status)s",
        record,
        extra={"security": record, **record},
    )


class DenialLogMiddleware:
    """Logs every 403 response (see `denial_log`). Sits after AuthenticationMiddleware, so the
    user is known; views' PermissionDenied has become a 403 response by the time it returns
    here, and DRF answers its refusals as 403 responses itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            denial_log(request=request, status=403)
        return response


# --- Sign-in lockout (django-axes) -------------------------------------------------------


def client_ip(request) -> str | None:
    """The client's address for sign-in throttling (AXES_CLIENT_IP_CALLABLE): behind our TLS
    proxy (SECURE_PROXY_SSL_HEADER set) the last X-Forwarded-For entry, the one the proxy
    appended (earlier entries are whatever the client sent); otherwise REMOTE_ADDR."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR")


def lockout_message() -> str:
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = int(cool_off.total_seconds() // 60) if isinstance(cool_off, timedelta) else 0
    wait = f"Try again in {minutes} minutes" if minutes else "Try again later"
    return (
        f"Too many failed sign-in attempts for this user name from this device. {wait}, "
        "or ask an administrator to unlock the account."
    )


def login_lockout_response(request, original_response=None, credentials=None):
    """The sign-in page with the lockout explained, status 429 (AXES_LOCKOUT_CALLABLE).

    The form is shown with the user name typed and the message as its error; it is not
    validated again (that would count one more failed attempt).
    """
    form = AuthenticationForm(request, data={"username": request.POST.get("username", "")})
    form._errors = ErrorDict({"__all__": form.error_class([lockout_message()])})
    context = {"form": form, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


# --- API docs under the content security policy ------------------------------------------


def _swagger_style_hash() -> str:
    """The CSP source for the inline <style> block of drf-spectacular's Swagger UI page."""
    template = Path(drf_spectacular.__file__).parent / "templates/drf_spectacular/swagger_ui.html"
    match = re.search(r"<style>(.*?)</style>", template.read_text(), re.DOTALL)
    if match is None:
        return "'none'"
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


SWAGGER_UI_CSP = {
    "style-src": [_swagger_style_hash()],
    # swagger-ui.css draws its icons as data: URIs.
    "img-src": ["data:"],
}


class SwaggerUIView(SpectacularSwaggerSplitView):
    """Swagger UI whose start-up script is a separate request (?script), so the page needs no
    inline script; its response widens the policy by exactly what the page uses."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response._csp_update = SWAGGER_UI_CSP
        return response


# --- Append-only history ------------------------------------------------------------------

HISTORY_REWRITE_SETTING = "erp.history_rewrite"
HISTORY_TRIGGER = "history_append_only"

HISTORY_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION erp_history_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('{HISTORY_REWRITE_SETTING}', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    -- Deleting a user sets history_user to NULL on their rows (SET_NULL): the only change
    -- allowed, so who did what stays recorded as "a removed user" rather than blocking it.
    IF TG_OP = 'UPDATE' AND to_jsonb(NEW) ? 'history_user_id'
       AND (to_jsonb(NEW) ->> 'history_user_id') IS NULL
       AND (to_jsonb(NEW) - 'history_user_id') = (to_jsonb(OLD) - 'history_user_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'history rows are append-only: % on %.% refused',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def history_tables() -> list[str]:
    """Every django-simple-history table of the installed models."""
    from django.apps import apps
    from simple_history.models import HistoricalChanges

    return sorted(
        model._meta.db_table for model in apps.get_models() if issubclass(model, HistoricalChanges)
    )


def history_protect(*, using: str = "default", **_signal_kwargs) -> list[str]:
    """Effects: puts the append-only rule on every history table that lacks it (PostgreSQL:
    one trigger function, a trigger per table; SQLite: plain triggers per table); returns the
    tables newly protected.

    Idempotent; run by erp's migration and after every `migrate` (post_migrate), so tables
    added by later migrations of any app are covered too, and on SQLite the triggers of a
    table a migration rebuilt (SQLite drops them with the old table) are put back.
    """
    from django.db import connections

    db = connections[using]
    if db.vendor == "sqlite":
        return _sqlite_history_protect(db)
    if db.vendor != "postgresql":
        return []
    protected = []
    with db.cursor() as cursor:
        cursor.execute(HISTORY_FUNCTION_SQL)
        existing = set(db.introspection.table_names(cursor))
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [HISTORY_TRIGGER],
        )
        done = {row[0] for row in cursor.fetchall()}
        for table in history_tables():
            if table not in existing or table in done:
                continue
            cursor.execute(
                f"CREATE TRIGGER {HISTORY_TRIGGER} BEFORE UPDATE OR DELETE ON "
                f"{db.ops.quote_name(table)} FOR EACH ROW EXECUTE FUNCTION "
                "erp_history_append_only()"
            )
            protected.append(table)
    return protected


def history_unprotected_tables(*, using: str = "default") -> list[str]:
    """The history tables present without the append-only trigger (should be none)."""
    from django.db import connections

    db = connections[using]
    with db.cursor() as cursor:
        existing = set(db.introspection.table_names(cursor))
        if db.vendor == "sqlite":
            triggers = _sqlite_triggers(cursor)
            return [
                table
                for table in history_tables()
                if table in existing and not set(_sqlite_trigger_names(table)) <= triggers
            ]
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND t.tgenabled <> 'D'",
            [HISTORY_TRIGGER],
        )
        done = {row[0] for row in cursor.fetchall()}
    return [table for table in history_tables() if table in existing and table not in done]


# SQLite (the embedded demo) has no trigger functions or session settings: each history table
# gets plain triggers. A DELETE is refused, so is an UPDATE naming any column but
# history_user_id, and one naming history_user_id if it sets a user: deleting a user
# (SET_NULL) still works, as in PostgreSQL. `history_rewrite_allowed` drops them inside its
# transaction (SQLite's DDL is transactional, so no other connection ever sees them missing).


def _sqlite_trigger_names(table: str) -> tuple[str, str]:
    """The two every history table has; those with a history_user_id have a third."""
    return (f"{table}_no_update", f"{table}_no_delete")


def _sqlite_triggers(cursor) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return {row[0] for row in cursor.fetchall()}


def _sqlite_history_triggers(db, cursor, table: str) -> dict[str, str]:
    """name → CREATE TRIGGER statement, as SQLite keeps it in sqlite_master."""
    columns = [c.name for c in db.introspection.get_table_description(cursor, table)]
    quoted = db.ops.quote_name(table)
    others = ", ".join(db.ops.quote_name(c) for c in columns if c != "history_user_id")
    refuse = "SELECT RAISE(ABORT, 'history rows are append-only: {} on " + table + "')"
    no_update, no_delete = _sqlite_trigger_names(table)
    triggers = {
        no_update: f"CREATE TRIGGER {no_update} BEFORE UPDATE OF {others} ON {quoted} "
        f"BEGIN {refuse.format('UPDATE')}; END",
        no_delete: f"CREATE TRIGGER {no_delete} BEFORE DELETE ON {quoted} "
        f"BEGIN {refuse.format('DELETE')}; END",
    }
    if "history_user_id" in columns:
        name = f"{table}_no_user_change"
        triggers[name] = (
            f"CREATE TRIGGER {name} BEFORE UPDATE OF history_user_id ON {quoted} "
            f"WHEN NEW.history_user_id IS NOT NULL BEGIN {refuse.format('UPDATE')}; END"
        )
    return triggers


def _sqlite_history_protect(db) -> list[str]:
    protected = []
    with db.cursor() as cursor:
        existing = set(db.introspection.table_names(cursor))
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        installed = dict(cursor.fetchall())
        for table in history_tables():
            if table not in existing:
                continue
            # Compared with what is installed, not just looked up by name: a column a migration
            # added with ALTER TABLE must join the UPDATE trigger's column list.
            wanted = _sqlite_history_triggers(db, cursor, table)
            stale = [name for name, sql in wanted.items() if installed.get(name) != sql]
            for name in stale:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                cursor.execute(wanted[name])
            if stale:
                protected.append(table)
    return protected


def _sqlite_history_unprotect(db) -> None:
    with db.cursor() as cursor:
        for table in history_tables():
            for name in (*_sqlite_trigger_names(table), f"{table}_no_user_change"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


@contextmanager
def history_rewrite_allowed():
    """Lifts the append-only rule for the current transaction only (SET LOCAL), for the demo
    reset that deletes the demo's own history. Must be used inside `transaction.atomic`.
    On SQLite the triggers are dropped and put back within the same transaction."""
    if connection.vendor not in ("postgresql", "sqlite"):
        yield
        return
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "history_rewrite_allowed() must run inside transaction.atomic"
        )
    if connection.vendor == "sqlite":
        _sqlite_history_unprotect(connection)
        try:
            yield
        finally:
            # After an error the transaction rolls back, and the drop with it.
            if not connection.needs_rollback:
                history_protect(using=connection.alias)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [HISTORY_REWRITE_SETTING])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'off', true)", [HISTORY_REWRITE_SETTING])
