"""Django settings, read from the environment.

Two modes share this one module:

* embedded (default): SQLite and a generated secret key under the data folder (``./var``),
  background jobs run by an in-process worker; meant for a laptop or a trial.
* production (``AFTERSALES_MODE=production``): PostgreSQL through ``DATABASE_URL``, separate
  ``aftersales worker`` processes; refuses to start with DEBUG on or without ``SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("AFTERSALES_DATA_DIR", "var")).resolve()
MODE = os.environ.get("AFTERSALES_MODE", "embedded").strip().lower()
if MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured("AFTERSALES_MODE must be 'embedded' or 'production'.")
IS_PRODUCTION = MODE == "production"

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    configured = os.environ.get("SECRET_KEY", "")
    if configured:
        if IS_PRODUCTION and len(configured) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters in production.")
        return configured
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when AFTERSALES_MODE=production.")
    # Embedded mode: one random key per data folder, created on first start and kept private.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when AFTERSALES_MODE=production.")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when AFTERSALES_MODE=production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a reverse proxy that overwrites X-Real-IP, take the client address from it.
TRUST_X_REAL_IP = env_bool("TRUST_X_REAL_IP", False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "aftersales.core",
    "aftersales.accounts",
    "aftersales.audit",
    "aftersales.outbox",
    "aftersales.customfields",
    "aftersales.customers",
    "aftersales.tickets",
    "aftersales.sla",
    "aftersales.knowledge",
    "aftersales.conditions",
    "aftersales.routing",
    "aftersales.automation",
    "aftersales.notifications",
    "aftersales.portal",
    "aftersales.surveys",
    "aftersales.webforms",
    "aftersales.channels",
    "aftersales.messaging",
    "aftersales.calls",
    "aftersales.api",
    "aftersales.web",
    *env_list("AFTERSALES_EXTRA_APPS", []),
]

MIDDLEWARE = [
    "aftersales.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "aftersales.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "aftersales.accounts.middleware.UserLanguageMiddleware",
    "aftersales.api.idempotency.IdempotencyMiddleware",
    "aftersales.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aftersales.urls"
WSGI_APPLICATION = "aftersales.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aftersales.web.context_processors.shell",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'aftersales.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE makes writers queue on the lock instead of failing mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    # A file, not memory: worker subprocesses and live-server tests must see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_aftersales.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, throttling); Redis when configured -------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "aftersales",
        }
    }

# --- Background jobs ------------------------------------------------------------------------
TASK_BACKEND = os.environ.get("TASK_BACKEND", "database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASK_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured("TASK_BACKEND must be one of: " + ", ".join(_TASK_BACKENDS))
TASKS = {
    "default": {
        "BACKEND": _TASK_BACKENDS[TASK_BACKEND],
        "QUEUES": ["default", "events"],
    }
}
# How long a claimed outbox delivery may run before another worker may take it over.
OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "60"))
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "12"))
SCHEDULER_TICK_SECONDS = int(os.environ.get("SCHEDULER_TICK_SECONDS", "30"))
# How often the sweep re-enqueues due and abandoned deliveries.
OUTBOX_SWEEP_SECONDS = int(os.environ.get("OUTBOX_SWEEP_SECONDS", "30"))
# A task RUNNING longer than this is taken for one whose worker died and marked FAILED.
OUTBOX_STALE_TASK_SECONDS = int(os.environ.get("OUTBOX_STALE_TASK_SECONDS", "3600"))

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["aftersales.accounts.backends.AccountBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))

# --- Sessions, cookies, transport security -------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", IS_PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files (built by Vite into aftersales/static/dist) ------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS: list[Path] = []
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
VITE_MANIFEST = BASE_DIR / "web" / "static" / "dist" / ".vite" / "manifest.json"

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "15"))
else:
    # Embedded mode without a mail server: messages are written as files a person can open.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "aftersales@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- API --------------------------------------------------------------------------------------
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/min")
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 200
IDEMPOTENCY_KEY_TTL_HOURS = 24
NINJA_PAGINATION_PER_PAGE = API_PAGE_SIZE

# --- Operations -------------------------------------------------------------------------------
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if IS_PRODUCTION else "text")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "aftersales.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tasks_db": {"level": os.environ.get("TASK_LOG_LEVEL", "WARNING")},
        "django_tasks": {"level": os.environ.get("TASK_LOG_LEVEL", "WARNING")},
    },
}

# --- Ticket attachments -------------------------------------------------------------------------
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_MB", "25")) * 1024 * 1024
ATTACHMENT_BLOCKED_EXTENSIONS = frozenset(
    os.environ.get(
        "ATTACHMENT_BLOCKED_EXTENSIONS",
        "exe,com,bat,cmd,msi,scr,pif,cpl,dll,jar,js,jse,vbs,vbe,wsf,wsh,ps1,psm1,hta,lnk,reg,sh",
    ).split(",")
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
