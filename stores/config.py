"""Turn the portal's TOML configuration into the `STORES` setting.

Only `portal/settings.py` calls this; it passes the environment in, so this module never
reads `os.environ` itself.
"""
import re
import tomllib
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from stores import glance_conf

# kind -> (driver class, required options, optional options). Every other key of a
# [stores.NAME] table is an error, so a typo stops start-up instead of being ignored.
KINDS = {
    "file": ("stores.backends.file.FileStore", {"root"},
             {"chunk_size", "location_root", "write_behind", "cache_tail"}),
    "swift": (
        "stores.backends.swift.SwiftStore",
        {"auth_url", "user", "key"},
        {"container", "reference", "auth_version", "large_object_size", "segment_size",
         "chunk_size", "os_options", "insecure", "retries"},
    ),
    "s3": (
        "stores.backends.s3.S3Store",
        {"bucket"},
        {"endpoint_url", "access_key", "secret_key", "region", "addressing_style",
         "chunk_size", "max_concurrency"},
    ),
    "http": ("stores.backends.http.HttpStore", set(), {"url_prefix", "timeout", "chunk_size"}),
    "storage": ("stores.backends.storage.StorageStore", {"storage"}, {"options", "chunk_size"}),
}
COMMON_KEYS = {"backend", "description", "weight", "default"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ONE_TIB = 2**40
# Glance: delayed_delete off and scrub_time 0 (scrubbed at the scrubber's next run);
# leftover_age is the old glance-scrubber's cleanup_scrubber_time (a day); an upload that
# has written nothing for as long is taken as dead (a 1 TiB upload at 50 MB/s takes 6 h).
SCRUBBER_DEFAULTS = {"delayed_delete": False, "scrub_time": 0, "leftover_age": 86400,
                     "stale_upload_age": 86400}
# Glance's unified-limits resources (glance/quota/keystone.py), here in bytes, not MiB.
QUOTA_RESOURCES = {"image_size_total": "bytes", "image_stage_total": "bytes",
                   "image_count_total": "images", "image_count_uploading": "images"}
# Beat's periodic work, as cron lines (minute hour day-of-month month day-of-week); "" turns
# one off. A shallow audit nightly, the Glance database's half an hour later, a deep one
# (every byte hashed again) on Sundays, the scrubber's listing of every store nightly.
SCHEDULE_DEFAULTS = {"audit_schedule": "0 3 * * *", "audit_glance_schedule": "30 3 * * *",
                     "audit_deep_schedule": "0 4 * * 0",
                     "scrub_leftovers_schedule": "0 5 * * *"}
# Glance's defaults: the scrubber wakes up every wakeup_time seconds (glance-scrubber.conf);
# a list answers limit_param_default items unless asked, never more than api_limit_max.
TIMING_DEFAULTS = {"wakeup_time": 300, "limit_param_default": 25, "api_limit_max": 1000}


def embedded_default(data_dir):
    """Two file stores under the data folder: what the portal runs on with no configuration."""
    data_dir = Path(data_dir)
    for name in ("file", "cheap"):
        # Created here only: a configured root that is missing is more likely an unmounted
        # disk than a folder to create, so the store reports itself unhealthy instead.
        (data_dir / "images" / name).mkdir(parents=True, exist_ok=True)
    stores = {
        "file": {
            "BACKEND": KINDS["file"][0],
            "OPTIONS": {"root": str(data_dir / "images" / "file")},
            "DESCRIPTION": "Local disk (default)",
            "WEIGHT": 100,
        },
        "cheap": {
            "BACKEND": KINDS["file"][0],
            "OPTIONS": {"root": str(data_dir / "images" / "cheap")},
            "DESCRIPTION": "Second local disk, for copies",
            "WEIGHT": 50,
        },
    }
    return {"STORES": stores, "DEFAULT_STORE": "file", "IMAGE_SIZE_CAP": ONE_TIB,
            "STAGING_STORE": None, "WEB_DOWNLOAD": {}, "QUOTAS": {},
            "COPY_IMAGE": "admin", "SCRUBBER": scrubber({}, "config"),
            "SCHEDULES": schedules({}, "config"), "LIMITS": limits({}, "config"),
            "KEYSTONE_AUTHTOKEN": None, "POLICY_FILE": None, "UNSUPPORTED": []}


def load(path, *, environ, base_dir):
    """Read a TOML file or a Glance glance-api.conf and return {"STORES", "DEFAULT_STORE",
    "IMAGE_SIZE_CAP", ...}; "UNSUPPORTED" lists the Glance options that are not used.

    Raises ImproperlyConfigured naming the store and the option at fault.
    `${VAR}` in a TOML string value is replaced by that environment variable, so secrets can
    stay out of the file; a glance-api.conf is read as Glance reads it, without.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ImproperlyConfigured(f"PORTAL_CONFIG: {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        # Not TOML: a glance-api.conf (oslo.config INI) is known by its sections.
        try:
            sections = glance_conf.read_ini(path)
        except ImproperlyConfigured:
            sections = {}
        if not glance_conf.looks_like_api_conf(sections):
            raise ImproperlyConfigured(f"PORTAL_CONFIG: {path} is neither valid TOML ({exc}) "
                                       "nor a glance-api.conf") from None
        raw, unsupported = glance_conf.read_api_conf(sections, source=str(path))
        result = parse(raw, environ=environ, base_dir=Path(base_dir), source=str(path),
                       glance=True)
        result["UNSUPPORTED"] = unsupported + result["UNSUPPORTED"]
        return result
    return parse(raw, environ=environ, base_dir=Path(base_dir), source=str(path))


def parse(raw, *, environ, base_dir, source="config", glance=False):
    """Validate a TOML-shaped dict; `glance` when it comes from a glance-api.conf."""
    raw = dict(raw)
    if "default_backend" in raw:                 # Glance's name, in [glance_store]
        if "default_store" in raw:
            raise ImproperlyConfigured(f"{source}: both default_backend and default_store "
                                       "are set")
        raw["default_store"] = raw.pop("default_backend")
    unsupported = []
    unknown_top = set(raw) - {"default_store", "stores", "image_size_cap", "staging_store",
                              "web_download", "quotas", "copy_image", "keystone_authtoken",
                              "oslo_policy", *SCRUBBER_DEFAULTS,
                              *SCHEDULE_DEFAULTS, *TIMING_DEFAULTS}
    if unknown_top:
        raise ImproperlyConfigured(f"{source}: unknown top-level key(s) {sorted(unknown_top)}")
    tables = raw.get("stores")
    if not isinstance(tables, dict) or not tables:
        raise ImproperlyConfigured(f"{source}: needs at least one [stores.NAME] table")
    stores = {}
    flagged_default = []
    for name, table in tables.items():
        where = f"{source}: store '{name}'"
        reserved = glance and name == glance_conf.STAGING
        if not NAME_RE.match(name) or name.startswith("os_glance_") and not reserved:
            raise ImproperlyConfigured(f"{where}: invalid store name (letters, digits, '_.-'; "
                                       "not starting with 'os_glance_')")
        if not isinstance(table, dict):
            raise ImproperlyConfigured(f"{where}: must be a table")
        if not glance:
            table = _expand_env(table, environ, where)
        kind = table.get("backend")
        if kind is None:
            raise ImproperlyConfigured(f"{where}: missing option 'backend' "
                                       f"(one of {', '.join(KINDS)})")
        if kind not in KINDS:
            raise ImproperlyConfigured(f"{where}: unknown backend '{kind}' "
                                       f"(one of {', '.join(KINDS)})")
        backend, required, optional = KINDS[kind]
        table, ignored = glance_conf.store_options(kind, table, where=where, base_dir=base_dir,
                                                   glance_names_only=glance)
        unsupported += [f"[{name}] {key}" if glance else f"[stores.{name}] {key}"
                        for key in ignored]
        options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
        missing = sorted(required - set(options))
        if missing:
            raise ImproperlyConfigured(f"{where}: missing option '{missing[0]}' for backend '{kind}'")
        extra = sorted(set(options) - required - optional)
        if extra:
            raise ImproperlyConfigured(f"{where}: unknown option '{extra[0]}' for backend '{kind}' "
                                       f"(allowed: {', '.join(sorted(required | optional))})")
        if kind == "file":
            root = Path(options["root"])
            options["root"] = str(root if root.is_absolute() else (base_dir / root).resolve())
        weight = table.get("weight", 0)
        if not isinstance(weight, int):
            raise ImproperlyConfigured(f"{where}: option 'weight' must be an integer")
        if table.get("default") is True:
            flagged_default.append(name)
        stores[name] = {
            "BACKEND": backend,
            "OPTIONS": options,
            "DESCRIPTION": str(table.get("description", "")),
            "WEIGHT": weight,
        }
    default = raw.get("default_store")
    if len(flagged_default) > 1:
        raise ImproperlyConfigured(f"{source}: two default stores: {', '.join(flagged_default)} "
                                   "(set 'default = true' on one store only)")
    if flagged_default and default is not None and flagged_default[0] != default:
        raise ImproperlyConfigured(f"{source}: two default stores: default_store = '{default}' "
                                   f"and store '{flagged_default[0]}' has 'default = true'")
    default = default or (flagged_default[0] if flagged_default else None)
    if default is None:
        if len(stores) != 1:
            raise ImproperlyConfigured(f"{source}: missing option 'default_store' "
                                       f"(one of {', '.join(stores)})")
        default = next(iter(stores))
    if default not in stores:
        raise ImproperlyConfigured(f"{source}: default_store '{default}' is not a configured store "
                                   f"(one of {', '.join(stores)})")
    if stores[default]["BACKEND"] == KINDS["http"][0]:
        raise ImproperlyConfigured(f"{source}: store '{default}': an http store is read-only "
                                   "and cannot be the default store")
    cap = raw.get("image_size_cap", ONE_TIB)
    if not isinstance(cap, int) or cap <= 0:
        raise ImproperlyConfigured(f"{source}: image_size_cap must be a positive integer (bytes)")
    staging = raw.get("staging_store")
    if staging is not None and staging not in stores:
        raise ImproperlyConfigured(f"{source}: staging_store '{staging}' is not a configured "
                                   f"store (one of {', '.join(stores)})")
    web_download = raw.get("web_download", {})
    if not isinstance(web_download, dict):
        raise ImproperlyConfigured(f"{source}: [web_download] must be a table")
    return {"STORES": stores, "DEFAULT_STORE": default, "IMAGE_SIZE_CAP": cap,
            "STAGING_STORE": staging, "WEB_DOWNLOAD": _expand_env(web_download, environ,
                                                                  f"{source}: [web_download]"),
            "QUOTAS": _quotas(raw.get("quotas", {}), source),
            "COPY_IMAGE": _copy_image(raw, source), "SCRUBBER": scrubber(raw, source),
            "SCHEDULES": schedules(raw, source), "LIMITS": limits(raw, source),
            "KEYSTONE_AUTHTOKEN": keystone_authtoken(raw, environ, source, glance=glance),
            "POLICY_FILE": policy_file(raw, base_dir, source),
            "UNSUPPORTED": unsupported}


def keystone_authtoken(raw, environ, source, *, glance=False):
    """keystonemiddleware's options, by its own names (as in glance-api.conf), as strings;
    None without the table (local users and tokens)."""
    table = raw.get("keystone_authtoken")
    if table is None:
        return None
    if not isinstance(table, dict) or not table:
        raise ImproperlyConfigured(f"{source}: [keystone_authtoken] must be a table of "
                                   "keystonemiddleware options")
    if not glance:
        table = _expand_env(table, environ, f"{source}: [keystone_authtoken]")
    options = {}
    for key, value in table.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        elif not isinstance(value, (str, int, float)):
            raise ImproperlyConfigured(f"{source}: [keystone_authtoken] {key}: a string, "
                                       "number, boolean or list is expected")
        options[key] = str(value)
    for key in ("www_authenticate_uri", "auth_url"):
        if not options.get(key):
            raise ImproperlyConfigured(f"{source}: [keystone_authtoken] missing option '{key}'")
    return options


def policy_file(raw, base_dir, source):
    """The operator's policy file (YAML or JSON, Glance's rule names), or None."""
    table = raw.get("oslo_policy", {})
    if not isinstance(table, dict) or set(table) - {"policy_file"}:
        raise ImproperlyConfigured(f"{source}: [oslo_policy] takes only policy_file")
    path = table.get("policy_file")
    if path is None:
        return None
    path = Path(path)
    path = path if path.is_absolute() else (base_dir / path).resolve()
    if not path.is_file():
        raise ImproperlyConfigured(f"{source}: [oslo_policy] policy_file {path} does not exist")
    return str(path)


def schedules(raw, source):
    """{"WAKEUP_TIME": seconds, "AUDIT_SCHEDULE": crontab keywords or None, ...}: what
    portal/settings.py gives Celery beat."""
    from celery.schedules import crontab

    result = {"WAKEUP_TIME": _positive(raw, "wakeup_time", source)}
    for key, default in SCHEDULE_DEFAULTS.items():
        line = raw.get(key, default)
        if not isinstance(line, str):
            raise ImproperlyConfigured(f"{source}: {key} must be a cron line in quotes, e.g. "
                                       f"\"{default}\", or \"\" for never")
        fields = line.split()
        if not fields:
            result[key.upper()] = None
            continue
        if len(fields) != 5:
            raise ImproperlyConfigured(f"{source}: {key} = \"{line}\" needs 5 fields: minute "
                                       "hour day-of-month month day-of-week")
        keywords = dict(zip(("minute", "hour", "day_of_month", "month_of_year",
                             "day_of_week"), fields))
        try:
            crontab(**keywords)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{source}: {key} = \"{line}\": {exc}") from None
        result[key.upper()] = keywords
    return result


def limits(raw, source):
    """Glance's list page sizes: {"LIMIT_PARAM_DEFAULT", "API_LIMIT_MAX"}."""
    default = _positive(raw, "limit_param_default", source)
    maximum = _positive(raw, "api_limit_max", source)
    if default > maximum:
        raise ImproperlyConfigured(f"{source}: limit_param_default ({default}) is more than "
                                   f"api_limit_max ({maximum})")
    return {"LIMIT_PARAM_DEFAULT": default, "API_LIMIT_MAX": maximum}


def _positive(raw, key, source):
    value = raw.get(key, TIMING_DEFAULTS[key])
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ImproperlyConfigured(f"{source}: {key} must be a positive integer")
    return value


def _copy_image(raw, source):
    """Who may copy an image into more stores: "admin" (Glance's default policy
    copy_image) or "owner" (then every copy's bytes count toward image_size_total)."""
    value = raw.get("copy_image", "admin")
    if value not in ("admin", "owner"):
        raise ImproperlyConfigured(f"{source}: copy_image must be \"admin\" or \"owner\"")
    return value


def scrubber(raw, source):
    """Delayed delete and the scrubber's times (seconds), with Glance's defaults where Glance
    has the option: {"DELAYED_DELETE", "SCRUB_TIME", "LEFTOVER_AGE", "STALE_UPLOAD_AGE"}."""
    if not isinstance(raw.get("delayed_delete", False), bool):
        raise ImproperlyConfigured(f"{source}: delayed_delete must be true or false")
    times = {}
    for key in ("scrub_time", "leftover_age", "stale_upload_age"):
        value = raw.get(key, SCRUBBER_DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ImproperlyConfigured(f"{source}: {key} must be an integer, 0 or more "
                                       "(seconds)")
        times[key.upper()] = value
    return {"DELAYED_DELETE": raw.get("delayed_delete", False), **times}


def _quotas(table, source):
    """The [quotas] table: every project's default limits, {resource: int}; -1 or absent is
    unlimited. Sizes are bytes, counts are images."""
    if not isinstance(table, dict):
        raise ImproperlyConfigured(f"{source}: [quotas] must be a table")
    unknown = sorted(set(table) - set(QUOTA_RESOURCES))
    if unknown:
        raise ImproperlyConfigured(f"{source}: [quotas]: unknown option '{unknown[0]}' "
                                   f"(allowed: {', '.join(QUOTA_RESOURCES)})")
    for name, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise ImproperlyConfigured(f"{source}: [quotas]: {name} must be an integer, "
                                       f"0 or more ({QUOTA_RESOURCES[name]}), or -1 for "
                                       "unlimited")
    return {name: value for name, value in table.items() if value != -1}


def _expand_env(value, environ, where):
    if isinstance(value, dict):
        return {k: _expand_env(v, environ, f"{where}, option '{k}'") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, environ, where) for v in value]
    if isinstance(value, str):
        def sub(match):
            var = match.group(1)
            if var not in environ:
                raise ImproperlyConfigured(f"{where}: environment variable {var} is not set")
            return environ[var]
        return ENV_RE.sub(sub, value)
    return value
