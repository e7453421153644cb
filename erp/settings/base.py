"""Production settings. Everything a deployment changes is read from the environment.

Defaults are the embedded set-up (SQLite under var/, a filesystem Celery broker) so that the
app runs with no server to install; production sets DATABASE_URL and CELERY_BROKER_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("ERP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "simple_history",
    "pgtrigger",
    "axes",
    "csp",
    "erp",
    "finance",
    "inventory",
    "warehouse",
    "returns",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "erp.security.DenialLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "erp.urls"
WSGI_APPLICATION = "erp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "erp.navigation.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'erp.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: WAL lets the web server, worker and beat share one file, and
    # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # Kept, at one `SELECT 1` per web request (the first query of each request checks the
    # persistent connection; Django sends it outside its query log, so statement counts miss
    # it): without it a connection PostgreSQL dropped (restart, failover, idle timeout, a
    # pooler) fails the next request's first query with a 500, which for a webhook means a
    # delivery refused until the channel retries. A loopback round trip is a few percent of
    # the cheapest request (webhook ingest: 1-2 statements). Celery tasks keep their
    # connection the same way, checked before each task (erp.celery, CELERY_DB_REUSE_MAX).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in throttling (django-axes): AXES_FAILURE_LIMIT failures for one user name from one
# address lock that pair out for AXES_COOLOFF_TIME; a successful sign-in resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, reading the permissions with the user (one query per request, not three).
    "erp.auth_backends.PermissionsPreloadingBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "erp.security.login_lockout_response"
# Behind the TLS proxy (SECURE_PROXY_SSL_HEADER) the address is the one the proxy appended.
AXES_CLIENT_IP_CALLABLE = "erp.security.client_ip"

# --- Sessions -------------------------------------------------------------------------
# With CACHE_URL (a Redis database, e.g. on the broker's server) each signed-in request reads
# its session from Redis instead of PostgreSQL: a query fewer per request, and 0.15 ms of web
# CPU to load it instead of 0.48 (measured in-process), plus the database's share. Sessions are
# still written through to PostgreSQL (erp.sessions, Django's cached_db), so a Redis restart
# signs nobody out and an unreachable Redis falls back to the database. Signing out deletes
# the session in Redis, then in PostgreSQL; every web process reads the same Redis, so it ends
# everywhere at once. Never a per-process cache (LocMem): a session ended in one process would
# live on in the others' caches. Without CACHE_URL (the embedded set-up) sessions stay in the
# database alone.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "erp.cache.SessionRedisCache",
            "LOCATION": CACHE_URL,
            # An unreachable Redis costs a request at most this, not a hung worker.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    SESSION_ENGINE = "erp.sessions"

# --- Locale: UTC, money is Decimal ----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Stock is valued at each SKU's one standard cost, in this currency (finance.valuation).
FINANCE_BOOK_CURRENCY = os.environ.get("FINANCE_BOOK_CURRENCY", "USD")

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Photos of returned goods are evidence: at most this many bytes an upload.
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
# A request body (forms, JSON, webhooks) is refused above 5 MB; uploaded files above 2.5 MB
# are spooled to disk instead of memory. Files are checked by erp.validators.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("FILE_UPLOAD_MAX_MEMORY_SIZE", 2621440))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": os.environ.get(
            "STATICFILES_BACKEND", "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security (production defaults; local.py relaxes them for http://localhost) ------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Content Security Policy (django-csp, enforced): our own static files only; no inline script
# or style, no framing. The Swagger UI page widens it for itself (erp.security.SwaggerUIView).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["erp.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["erp.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    # A service's ValidationError is a 400 and a refused transition a 409, as JSON.
    "EXCEPTION_HANDLER": "erp.api.errors.exception_handler",
    # The API speaks JSON only (the screens are Django forms, not DRF).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Returns & Inventory Truth API",
    "DESCRIPTION": "Returns, inventory ledger, refunds and reconciliation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components, so a required text states minLength 1.
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema maps every endpoint: only signed-in staff (session or token) may read it.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI is served from our own static files: the back office runs on closed networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The 415 DRF answers to a body that is not JSON, on every operation that takes a body.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "erp.api.schema.document_unsupported_media_type",
    ],
    # Choice sets used by several fields get one name each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "StockStateEnum": "inventory.models.states.StockState",
        "UnitStateEnum": "inventory.models.states.UNIT_STATE_CHOICES",
        "ReturnStateEnum": "returns.models.cases.ReturnState",
        "RefundStateEnum": "finance.models.refunds.RefundState",
        "ExceptionStateEnum": "erp.models.exceptions.ExceptionState",
        "ExceptionKindEnum": "erp.models.exceptions.ExceptionKind",
        "SnapshotSourceEnum": "inventory.models.reconciliation.SnapshotSource",
        "SnapshotUploadSourceEnum": "inventory.api.UPLOAD_SOURCES",
    },
}

# --- Celery ---------------------------------------------------------------------------
# The embedded default is kombu's filesystem transport: a real worker and beat run with no
# broker server. Production points CELERY_BROKER_URL at Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = os.environ.get(
    "CELERY_RESULT_BACKEND", f"file://{VAR_DIR / 'celery' / 'results'}"
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
# Celery's Django fixup closes a worker's database connection only every this many tasks;
# before each task erp.celery applies CONN_MAX_AGE and the health check, as for a request.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "erp.tasks.worker_heartbeat", "schedule": 60.0},
    "exceptions-escalate-overdue": {
        "task": "erp.tasks.exceptions_escalate_overdue",
        "schedule": 300.0,
    },
    # The after-commit triggers are the fast path; these sweeps catch what a broker or worker
    # outage dropped, so nothing is lost.
    "outbox-dispatch": {"task": "erp.tasks.outbox_dispatch", "schedule": 30.0},
    "inbox-requeue-stale": {"task": "erp.tasks.inbox_requeue_stale", "schedule": 60.0},
    # ShipBob / Extensiv stock into the inbox (erp.services.threepl_pull).
    "threepl-stock-pull": {"task": "erp.tasks.threepl_stock_pull", "schedule": 900.0},
    # Amazon FBA customer returns report → one inbox event per row (erp.services.amazon_reports).
    "amazon-returns-pull": {"task": "erp.tasks.amazon_returns_pull", "schedule": 3600.0},
    "return-cases-expire-overdue": {
        "task": "returns.tasks.return_cases_expire_overdue",
        "schedule": 3600.0,
    },
    # Releases refund holds whose case exceptions were dismissed (a resolution releases at once).
    "refund-holds-release": {"task": "finance.tasks.refund_holds_release", "schedule": 300.0},
    # Reconciliation: the SKUs moved since the last run, within seconds; everything hourly
    # (a full run left unfinished by a dead worker is resumed by the same entry).
    "reconciliation-incremental": {
        "task": "inventory.tasks.reconciliation_incremental",
        "schedule": 10.0,
    },
    "reconciliation-full": {
        "task": "inventory.tasks.reconciliation_full_schedule",
        "schedule": 3600.0,
    },
    # One KpiSnapshot row per day, metric and dimension: hourly, today and yesterday are rebuilt
    # (still filling) and any missing day of the last 60 is built, so trends stay current.
    "kpi-snapshots-build": {"task": "reporting.tasks.kpi_snapshots_build", "schedule": 3600.0},
    # The open-returns pipeline per dashboard dimension: the headline counts read it (a page
    # counts live only when it is older than an hour).
    "open-pipeline-snapshot": {"task": "reporting.tasks.open_pipeline_snapshot", "schedule": 300.0},
    # Scheduled cycle count plans whose next_due_at has passed open their counts.
    "count-plans-start": {"task": "warehouse.tasks.count_plans_start", "schedule": 900.0},
    "sku-return-anomalies-scan": {
        "task": "reporting.tasks.sku_return_anomalies_scan",
        "schedule": 86400.0,
    },
}
# Cycle counts started without a plan (ad hoc, from the tablet) recount a line only when it is
# off by more than both of these: units, and percent of the system quantity.
CYCLE_COUNT_TOLERANCE_UNITS = int(os.environ.get("CYCLE_COUNT_TOLERANCE_UNITS", 1))
CYCLE_COUNT_TOLERANCE_PERCENT = os.environ.get("CYCLE_COUNT_TOLERANCE_PERCENT", "2")
# Units a 3PL received may wait this long for their disposition before an exception opens.
RECONCILIATION_3PL_DISPOSITION_SLA_HOURS = int(
    os.environ.get("RECONCILIATION_3PL_DISPOSITION_SLA_HOURS", 24)
)
# The queue inbox processing and outbox dispatch are sent to; empty is Celery's default.
ERP_INTEGRATION_QUEUE = os.environ.get("ERP_INTEGRATION_QUEUE") or None
# The queue reconciliation runs are sent to (a snapshot's SKUs, a full run); empty is the default.
ERP_RECONCILIATION_QUEUE = os.environ.get("ERP_RECONCILIATION_QUEUE") or None

# --- Refunds (finance) ------------------------------------------------------------------
# The Stripe-like payment provider refunds are sent to (finance.providers.stripe_like).
PAYMENT_PROVIDER_URL = os.environ.get("PAYMENT_PROVIDER_URL", "http://127.0.0.1:12111")
PAYMENT_PROVIDER_SECRET_KEY = os.environ.get("PAYMENT_PROVIDER_SECRET_KEY", "")
PAYMENT_PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PAYMENT_PROVIDER_TIMEOUT_SECONDS", 10))
# Low-risk refunds below this amount (in the refund's currency) are approved automatically.
REFUND_AUTO_APPROVE_BELOW = os.environ.get("REFUND_AUTO_APPROVE_BELOW", "50.00")

# --- E-mail (customer messages, sent by the outbox dispatcher) --------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
