"""Settings of the image portal.

This module is the only reader of the environment:
- PORTAL_DATA_DIR   folder for the SQLite database, the embedded file stores and the local
                    worker's queue (default ./data in a checkout, else
                    $XDG_DATA_HOME/image-portal, i.e. ~/.local/share/image-portal)
- DATABASE_URL      database (default sqlite:///$PORTAL_DATA_DIR/portal.sqlite3); also
                    SQLAlchemy's form, mysql+pymysql://... (portal/dburl.py)
- PORTAL_CONFIG     the stores and options: a TOML file, or a Glance glance-api.conf
                    (stores/glance_conf.py) (default: two file stores under the data dir)
- CELERY_BROKER_URL Celery broker (default: a folder queue under the data dir)
- PORTAL_TASK_VISIBILITY_TIMEOUT seconds before a Redis broker hands a dead worker's task
                    to another worker (default 87000: longer than a task may run)
- GLANCE_DATABASE_URL an existing Glance database, opened read-only as the alias "glance"
- PORTAL_SECRET_KEY, PORTAL_DEBUG, PORTAL_ALLOWED_HOSTS
- PORTAL_CACHE_URL  Redis for Django's cache (default: the broker's Redis when it is one,
                    else a folder under the data dir, shared by the processes of one machine)
- PORTAL_STORE_HEALTH_TTL seconds a store's health is kept for the pages (default 60)
- PORTAL_HTTPS      1 behind a proxy that terminates TLS: secure cookies, HSTS, the proxy's
                    X-Forwarded-Proto trusted (default off, for plain-http `make run`)
- PORTAL_LOG_FORMAT text (default) or json: one JSON object a line, for log shippers
"""
import os
import secrets
from pathlib import Path

from celery.schedules import crontab

from portal import dburl
from portal.routers import glance_database
from stores import config as store_config

BASE_DIR = Path(__file__).resolve().parent.parent
PORTAL_DIR = Path(__file__).resolve().parent


def _default_data_dir():
    # In a checkout (manage.py beside portal/) the data stays in it, as `make run` always had
    # it; an installed package would otherwise write into site-packages.
    if (BASE_DIR / "manage.py").is_file():
        return BASE_DIR / "data"
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "image-portal"


DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR") or _default_data_dir()).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    if os.environ.get("PORTAL_SECRET_KEY"):
        return os.environ["PORTAL_SECRET_KEY"]
    # Kept in the data folder so sessions survive a restart without any configuration.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("PORTAL_DEBUG", "") in ("1", "true", "yes")
ALLOWED_HOSTS = os.environ.get("PORTAL_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

SILENCED_SYSTEM_CHECKS = []
if os.environ.get("PORTAL_HTTPS", "") in ("1", "true", "yes"):
    # Browsers reach the portal only over https, through a proxy that terminates TLS and
    # sets X-Forwarded-Proto; the proxy must overwrite a client's own such header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # No SECURE_SSL_REDIRECT (security.W008): the proxy redirects plain http itself. Done
    # here too, it would answer an API client's PUT or POST on http with a 301 that clients
    # follow without the body, and a load balancer's plain-http health check with 301s.
    # No SECURE_HSTS_PRELOAD (security.W021): the preload list binds every subdomain of the
    # registered domain for months, a decision for its owner, not for one service.
    SILENCED_SYSTEM_CHECKS += ["security.W008", "security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "stores",
    "images",
    "metadefs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "images.api.middleware.RequestIdMiddleware",
    "images.api.middleware.DrainRefusedBodyMiddleware",
    "images.api.stopping.CutOffUploadsMiddleware",
    # Before CommonMiddleware checks the Host header: probes name the node by its address.
    "portal.health.HealthcheckMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Only with [keystone_authtoken]: validates the request's Keystone token.
    "portal.keystone.KeystoneTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PORTAL_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.project",
            ],
        },
    },
]

DATABASES = {
    "default": dburl.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'portal.sqlite3'}",
        conn_max_age=60,
        # A connection kept from an earlier request is checked before it is reused: after a
        # database restart or failover, each would otherwise fail one request.
        conn_health_checks=True,
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # An upload holds no transaction while it streams, but the web process and the worker
    # write the same file: wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")

# Glance's own index names (ix_image_tags_image_id_tag_value, ...) pass Django's 30-character
# limit, which exists for Oracle; SQLite, PostgreSQL (63) and MariaDB (64) take them.
SILENCED_SYSTEM_CHECKS.append("models.E034")

# An existing Glance database, read with .using("glance") and opened read-only
# (portal/routers.py: glance_database); import_glance_db copies its rows into "default".
if os.environ.get("GLANCE_DATABASE_URL"):
    DATABASES["glance"] = glance_database(os.environ["GLANCE_DATABASE_URL"])
DATABASE_ROUTERS = ["portal.routers.GlanceRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With [keystone_authtoken], users sign in with their Keystone name, password and domain
# (accounts/keystone_backend.py); Django's own passwords stay, after it, so that the local
# admin still reaches /admin/ when Keystone is configured, even when it is down.
AUTHENTICATION_BACKENDS = [
    "accounts.keystone_backend.KeystoneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [PORTAL_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/images/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Password of the `admin` user that the run command creates when there is none.
ADMIN_INITIAL_PASSWORD = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None

# Stores: PORTAL_CONFIG names a TOML file or a Glance glance-api.conf (see README); without
# it, two file stores.
PORTAL_CONFIG = os.environ.get("PORTAL_CONFIG") or None
_stores = (store_config.load(PORTAL_CONFIG, environ=os.environ, base_dir=Path.cwd())
           if PORTAL_CONFIG else store_config.embedded_default(DATA_DIR))
STORES = _stores["STORES"]
DEFAULT_STORE = _stores["DEFAULT_STORE"]
# Glance's image_size_cap default: 1 TiB.
IMAGE_SIZE_CAP = _stores["IMAGE_SIZE_CAP"]
# Where glance-direct data waits for its import (None: the default store).
STAGING_STORE = _stores["STAGING_STORE"]
# What a web-download import may fetch (stores/urlfetch.py: FetchPolicy). Loopback, private,
# link-local and metadata addresses are refused unless listed in allowed_hosts. A download
# must end within `deadline` seconds and bring `min_rate` bytes/s (over `min_rate_window`).
WEB_DOWNLOAD = _stores["WEB_DOWNLOAD"]
# Every project's default limits ([quotas]: {resource: int}, absent = unlimited); admins
# override them per project (accounts.ProjectQuota).
IMAGE_QUOTAS = _stores["QUOTAS"]
# Who may copy an image into more stores (copy-image): "admin", as Glance's default policy,
# or "owner", and then each stored copy counts toward the owner's image_size_total.
COPY_IMAGE = _stores["COPY_IMAGE"]
# Delayed delete (Glance's delayed_delete, scrub_time): a deleted image waits in
# `pending_delete`, data kept and restorable by an admin, until the scrubber removes its data
# SCRUB_TIME seconds later. The scrubber also removes objects no location references once
# LEFTOVER_AGE old, and resets uploads silent for STALE_UPLOAD_AGE to `queued`.
DELAYED_DELETE = _stores["SCRUBBER"]["DELAYED_DELETE"]
SCRUB_TIME = _stores["SCRUBBER"]["SCRUB_TIME"]
LEFTOVER_AGE = _stores["SCRUBBER"]["LEFTOVER_AGE"]
STALE_UPLOAD_AGE = _stores["SCRUBBER"]["STALE_UPLOAD_AGE"]
# Glance's limit_param_default and api_limit_max: a list's page size when none is asked for,
# and the most a page holds.
LIMIT_PARAM_DEFAULT = _stores["LIMITS"]["LIMIT_PARAM_DEFAULT"]
API_LIMIT_MAX = _stores["LIMITS"]["API_LIMIT_MAX"]
# keystonemiddleware's [keystone_authtoken] options: with them the API takes Keystone tokens
# (portal/keystone.py) and the portal signs users in through Keystone; None: local users
# and tokens (the embedded default).
KEYSTONE_AUTHTOKEN = _stores["KEYSTONE_AUTHTOKEN"]
# An operator's policy file with Glance's rule names (images/policy.py), or None.
POLICY_FILE = _stores["POLICY_FILE"]
# Glance options in PORTAL_CONFIG that the portal does not use, logged once at start-up
# (stores/apps.py).
CONFIG_UNSUPPORTED = _stores["UNSUPPORTED"]
# 1 MiB: glanceclient's chunk size, large enough that per-chunk Python overhead is
# negligible next to hashing, small enough that a few in flight cost little memory.
IMAGE_CHUNK_SIZE = 2**20

REST_FRAMEWORK = {
    # With KEYSTONE_AUTHTOKEN, Keystone tokens only (a portal user's too, from the session);
    # without, the portal's own tokens and sessions. Each class looks at the setting.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.KeystoneAuthentication",
        "accounts.authentication.TokenHeaderAuthentication",
        "accounts.authentication.LocalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "images.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Image portal: OpenStack Image API v2",
    "DESCRIPTION": "Glance-compatible image API with multi-store upload, copy and delete.",
    "VERSION": "2.17",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package: the portal works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {"securitySchemes": {"token": {
        "type": "apiKey", "in": "header", "name": "X-Auth-Token"}}},
    "SECURITY": [{"token": []}],
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1 is JSON Schema: Glance's nullable types (["null", "string"]) are written as they are.
    "OAS_VERSION": "3.1.0",
}

# The host means nothing to the filesystem transport; left out, kombu logs "No hostname was
# supplied" at each connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded default: a queue in folders under the data dir, so a local worker runs
    # with no broker service installed.
    _queue = DATA_DIR / "queue"
    (_queue / "out").mkdir(parents=True, exist_ok=True)
    (_queue / "processed").mkdir(parents=True, exist_ok=True)
    # control_folder holds the exchange tables; unset, kombu writes them into ./control of
    # whatever folder the process was started in.
    (_queue / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "out"),
        "data_folder_out": str(_queue / "out"),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task taken by a worker that died (SIGKILL, a lost machine) goes back to the queue
    # once it has been out this many seconds, at the next worker start or sweep; until then
    # its image stays locked by the import. It outlasts the longest a task may run (its hard
    # time limit, below), so a task still running is never handed out a second time; an
    # operator whose copies are short may lower it to get a dead worker's task back sooner.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("PORTAL_TASK_VISIBILITY_TIMEOUT")
                                  or 24 * 3600 + 600)}

# Django's cache holds what is slow to find out, for every web process and the worker alike:
# the stores' health (stores/health.py). It has to be shared, so not local memory.
_cache_url = os.environ.get("PORTAL_CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": _cache_url} if _cache_url else
          {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
           "LOCATION": DATA_DIR / "cache"}}
# How old a store's health the pages may show: beat probes every store twice in this time
# (stores_health_task), so a page load probes only when beat is not running.
STORE_HEALTH_TTL = int(os.environ.get("PORTAL_STORE_HEALTH_TTL") or 60)

# A queue name of its own lets two portals share one broker without taking each other's work.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PORTAL_QUEUE") or "portal"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task's time limits, in seconds: at the soft one the task gets SoftTimeLimitExceeded
# (an import then fails cleanly: its task failed, its image queued again, its lock released),
# at the hard one the worker kills it. Generous, since copying a 50 GiB image may take hours;
# a web-download has its own, shorter deadline ([web_download] deadline, min_rate).
CELERY_TASK_SOFT_TIME_LIMIT = 24 * 3600
CELERY_TASK_TIME_LIMIT = 24 * 3600 + 300
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "") in ("1", "true")
# beat's record of when each entry last ran; unset, it lands in the working folder.
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# With `celery -A portal beat`, at the times PORTAL_CONFIG gives (stores/config.py: by
# default a shallow audit of every location each night, a deep one, every byte hashed again,
# each Sunday); a schedule set to "" is left out.
_schedules = _stores["SCHEDULES"]
CELERY_BEAT_SCHEDULE = {
    # Glance's scrubber wakes up every wakeup_time seconds, and then also removes the
    # leftovers the write journal names; listing every store for the rest is nightly work.
    "scrub": {"task": "images.tasks.scrub_task", "schedule": _schedules["WAKEUP_TIME"],
              "kwargs": {"leftovers": False}},
    # A refresh still queued when the next is due is dropped: a busy worker does not pile
    # them up.
    "stores-health": {"task": "images.tasks.stores_health_task",
                      "schedule": STORE_HEALTH_TTL / 2,
                      "options": {"expires": STORE_HEALTH_TTL / 2}},
}
for _name, _when, _task, _kwargs in [
        ("audit-all-nightly", "AUDIT_SCHEDULE", "audit_all_task", {"deep": False}),
        ("audit-all-deep-weekly", "AUDIT_DEEP_SCHEDULE", "audit_all_task", {"deep": True}),
        ("scrub-leftovers-nightly", "SCRUB_LEFTOVERS_SCHEDULE", "scrub_task",
         {"leftovers": True}),
        # The Glance database's own locations are audited too, after the portal's.
        ("audit-glance-nightly", "AUDIT_GLANCE_SCHEDULE", "audit_all_task",
         {"deep": False, "database": "glance"})]:
    if _schedules[_when] is not None and _kwargs.get("database", "default") in DATABASES:
        CELERY_BEAT_SCHEDULE[_name] = {"task": f"images.tasks.{_task}",
                                       "schedule": crontab(**_schedules[_when]),
                                       "kwargs": _kwargs}

# One format for the web processes and the worker (portal/logs.py): time, level, logger,
# request id, user and project on every line. The handler is the root logger's, so the
# libraries' warnings get the same format.
LOG_FORMAT = os.environ.get("PORTAL_LOG_FORMAT") or "text"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logs.ContextFilter"}},
    "formatters": {"text": {"()": "portal.logs.TextFormatter"},
                   "json": {"()": "portal.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": "json" if LOG_FORMAT == "json" else "text"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "images": {"level": "INFO"},
        "stores": {"level": "INFO"},
        # portal.request: one line per request answered.
        "portal": {"level": "INFO"},
        # Django logs a 500's traceback only with DEBUG on; a web node's log needs it always.
        "django.request": {"level": "ERROR"},
    },
}
# Celery keeps the handler above instead of putting its own format on the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# prometheus_client's multiprocess mode (portal/metrics.py): every web worker and every
# Celery worker process writes its counters here, and /metrics adds them up. The library
# reads the folder from this variable, once imported (after the settings); set here, not
# taken from the environment, so that each data folder, a test's portal too, counts apart.
METRICS_DIR = DATA_DIR / "metrics"
METRICS_DIR.mkdir(exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
