"""Glance's own configuration as input: `glance-api.conf`, `glance-swift.conf`, and Glance's
option names inside the portal's TOML.

`read_api_conf()` turns a `glance-api.conf` into the dict a TOML file gives, so
`stores.config.parse()` validates both alike; `store_options()` turns one store's Glance option
names into the driver's (MB into bytes, a `glance-swift.conf` reference into credentials).
What the portal does not support is returned as "[section] option" strings, for one warning
at start-up instead of being dropped silently.
"""
import configparser
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MB = 2**20
# glance_store's enabled_backends types this portal serves, by their kind names here.
BACKEND_TYPES = {"file": "file", "swift": "swift", "s3": "s3", "http": "http"}
# Options of glance-api.conf's [DEFAULT] read as the TOML's top-level keys of the same name.
TOP_LEVEL = {"image_size_cap": "int", "delayed_delete": "bool", "scrub_time": "int",
             "wakeup_time": "int", "limit_param_default": "int", "api_limit_max": "int"}
# Options whose value is what the portal always does: read, not listed as unsupported.
# 128: images/services/records.py; the import methods: images/services/imports.py.
FIXED = {
    ("DEFAULT", "image_property_quota"): "128", ("DEFAULT", "image_tag_quota"): "128",
    ("DEFAULT", "image_member_quota"): "128",
    ("DEFAULT", "enabled_import_methods"): "copy-image,glance-direct,web-download",
    ("store", "swift_store_multi_tenant"): "false",
    ("store", "swift_store_create_container_on_put"): "true",
}
# Glance's option -> (this portal's option, type). "mb" options are MB in Glance (glance_store's
# swift_store_large_object_size, s3_store_large_object_chunk_size, ...), bytes here.
RENAMES = {
    "common": {"store_description": ("description", "str"), "weight": ("weight", "int")},
    "file": {"filesystem_store_datadir": ("root", "str"),
             "filesystem_store_chunk_size": ("chunk_size", "int")},
    "swift": {"swift_store_auth_address": ("auth_url", "str"),
              "swift_store_user": ("user", "str"), "swift_store_key": ("key", "str"),
              "swift_store_auth_version": ("auth_version", "str"),
              "swift_store_container": ("container", "str"),
              "swift_store_large_object_size": ("large_object_size", "mb"),
              "swift_store_large_object_chunk_size": ("segment_size", "mb"),
              "swift_store_retry_get_count": ("retries", "int"),
              "swift_store_auth_insecure": ("insecure", "bool"),
              "default_swift_reference": ("reference", "str")},
    "s3": {"s3_store_host": ("endpoint_url", "str"),
           "s3_store_access_key": ("access_key", "str"),
           "s3_store_secret_key": ("secret_key", "str"),
           "s3_store_bucket": ("bucket", "str"),
           "s3_store_region_name": ("region", "str"),
           "s3_store_bucket_url_format": ("addressing_style", "str"),
           "s3_store_large_object_chunk_size": ("chunk_size", "mb"),
           "s3_store_thread_pools": ("max_concurrency", "int")},
    "http": {},
}
# swift_store_region and friends are swiftclient's os_options.
SWIFT_OS_OPTIONS = {"swift_store_region": "region_name",
                    "swift_store_endpoint_type": "endpoint_type",
                    "swift_store_service_type": "service_type"}
# Any other option of these prefixes is Glance's but not supported here.
GLANCE_PREFIXES = ("filesystem_store_", "filesystem_thin_", "swift_store_", "s3_store_",
                   "swift_", "https_", "http_proxy_", "rbd_", "cinder_", "vmware_")
STAGING = "os_glance_staging_store"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def read_ini(path):
    """Sections of an oslo.config INI file: {section: {option: value}}, [DEFAULT] included.

    As oslo.config reads it: `#` and `;` start comment lines only, an indented line continues
    the value, a repeated option keeps its last value, a value in matching quotes loses them,
    option names keep their case. No `%` interpolation (oslo.config has none).
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       default_section="\0", comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None)
    parser.optionxform = str
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path} does not exist") from None
    except configparser.Error as exc:
        raise ImproperlyConfigured(f"{path} is not a valid INI file: {exc}") from None
    return {name: {key: _unquote(value or "") for key, value in parser[name].items()}
            for name in parser.sections()}


def looks_like_api_conf(sections):
    return "DEFAULT" in sections or "glance_store" in sections


def read_api_conf(sections, *, source):
    """The TOML-shaped dict of a glance-api.conf's sections, and what it does not support."""
    defaults = dict(sections.get("DEFAULT", {}))
    unsupported = []
    raw = {}
    for key, kind in TOP_LEVEL.items():
        if key in defaults:
            raw[key] = convert(defaults.pop(key), kind, f"{source}: [DEFAULT] {key}")
    enabled = defaults.pop("enabled_backends", "")
    glance_store = dict(sections.get("glance_store", {}))
    if "default_backend" in glance_store:
        raw["default_store"] = glance_store.pop("default_backend")
    if not enabled and "default_store" in glance_store:
        # Glance's single-store form, without enabled_backends: one store named by its type,
        # with its options in [glance_store].
        kind = glance_store.pop("default_store")
        others = {part.strip() for part in glance_store.pop("stores", kind).split(",")} - {kind}
        unsupported += [f"[glance_store] stores: {name}" for name in sorted(others)]
        enabled, raw["default_store"] = f"{kind}:{kind}", kind
        sections, glance_store = {**sections, kind: glance_store}, {}
    raw["stores"] = {}
    for item in filter(None, (part.strip() for part in enabled.split(","))):
        name, _, backend = (part.strip() for part in item.partition(":"))
        if backend not in BACKEND_TYPES:
            raise ImproperlyConfigured(f"{source}: enabled_backends: '{item}': backend type "
                                       f"'{backend}' is not supported (one of "
                                       f"{', '.join(BACKEND_TYPES)})")
        raw["stores"][name] = {"backend": BACKEND_TYPES[backend], **sections.get(name, {})}
    if not raw["stores"]:
        raise ImproperlyConfigured(f"{source}: [DEFAULT] enabled_backends names no store "
                                   "(e.g. enabled_backends = fast:file, swift:swift)")
    staging = sections.get(STAGING, {})
    if "filesystem_store_datadir" in staging:
        # Glance's reserved store: a file store here too, under Glance's own name so it
        # cannot clash with an enabled backend.
        raw["stores"][STAGING] = {"backend": "file", **staging,
                                  "store_description": "Staged glance-direct data"}
        raw["staging_store"] = STAGING
    # Keystone and the policy file are the deployment's, read as Glance reads them.
    if sections.get("keystone_authtoken"):
        raw["keystone_authtoken"] = dict(sections["keystone_authtoken"])
    policy = dict(sections.get("oslo_policy", {}))
    if "policy_file" in policy:
        raw["oslo_policy"] = {"policy_file": policy.pop("policy_file")}
    used = {"DEFAULT", "glance_store", STAGING, "keystone_authtoken", *raw["stores"]}
    unsupported += [f"[oslo_policy] {key}" for key in policy]
    used.add("oslo_policy")
    for key, value in defaults.items():
        if FIXED.get(("DEFAULT", key)) != _canonical(value):
            unsupported.append(f"[DEFAULT] {key}")
    unsupported += [f"[glance_store] {key}" for key in glance_store]
    for name, options in sections.items():
        if name not in used:
            unsupported += [f"[{name}] {key}" for key in options]
    return raw, unsupported


def store_options(kind, table, *, where, base_dir, glance_names_only):
    """One store's table with Glance's option names turned into the driver's.

    Returns (table, names of the unsupported options). With `glance_names_only` (a glance-api.conf section) every
    option that is not Glance's is unsupported; from the TOML, unknown names stay, for
    stores.config to refuse.
    """
    renames = {**RENAMES["common"], **RENAMES[kind]}
    table = dict(table)
    out, unsupported = {}, []
    reference_file = table.pop("swift_store_config_file", None) if kind == "swift" else None
    for key, value in table.items():
        if key in renames:
            target, type_ = renames[key]
            if target != key and target in table:
                raise ImproperlyConfigured(f"{where}: both '{key}' and '{target}' are set")
            out[target] = convert(value, type_, f"{where}, option '{key}'")
        elif kind == "swift" and key in SWIFT_OS_OPTIONS:
            out.setdefault("os_options", {})[SWIFT_OS_OPTIONS[key]] = value
        elif key.startswith(GLANCE_PREFIXES) or glance_names_only and key != "backend":
            if FIXED.get(("store", key)) != _canonical(value):
                unsupported.append(key)
        else:
            out[key] = value
    if reference_file is not None:
        # glance_store's default_swift_reference is "ref1"; the file's credentials win.
        out.setdefault("reference", "ref1")
        out.update(_swift_reference(Path(base_dir) / reference_file, out["reference"], out,
                                    where))
    return out, unsupported


def _swift_reference(path, reference, options, where):
    """Credentials of `reference` in a glance-swift.conf, as SwiftStore options.

    As glance_store's swift utils read it: auth_version defaults to the store's
    swift_store_auth_version (Glance's default "2"); for Keystone (2, 3) `user` is
    "project:user".
    """
    sections = read_ini(path)
    if reference not in sections:
        raise ImproperlyConfigured(f"{where}: reference '{reference}' is not a section of "
                                   f"{path} (sections: {', '.join(sections) or 'none'})")
    ref = sections[reference]
    missing = [key for key in ("auth_address", "user", "key") if not ref.get(key)]
    if missing:
        raise ImproperlyConfigured(f"{where}: [{reference}] of {path} has no '{missing[0]}'")
    version = str(ref.get("auth_version") or options.get("auth_version") or "2")
    auth_url = ref["auth_address"]
    if "://" not in auth_url:
        # glance_store's single-tenant store adds the scheme the same way.
        auth_url = ("http://" if options.get("insecure") else "https://") + auth_url
    result = {"auth_url": auth_url, "user": ref["user"], "key": ref["key"],
              "auth_version": version}
    if version in ("2", "3"):
        project, _, user = ref["user"].rpartition(":")
        os_options = {"project_name": project, "tenant_name": project} if project else {}
        if version == "3":
            for key in ("user_domain_id", "user_domain_name", "project_domain_id",
                        "project_domain_name"):
                os_options[key] = ref.get(key) or ("default" if key.endswith("_id") else None)
            os_options = {k: v for k, v in os_options.items() if v is not None}
        result.update(user=user, os_options={**os_options, **options.get("os_options", {})})
    return result


def convert(value, type_, where):
    """A value as a TOML file would hold it: INI strings into int, bool, bytes (from MB)."""
    if type_ == "str":
        return value
    if type_ == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in TRUE | FALSE:
            return str(value).lower() in TRUE
        raise ImproperlyConfigured(f"{where} must be true or false")
    if isinstance(value, bool):
        raise ImproperlyConfigured(f"{where} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where} must be an integer") from None
    return number * MB if type_ == "mb" else number


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _canonical(value):
    """A value compared with FIXED: lower case, list items sorted, brackets dropped."""
    text = str(value).strip().strip("[]").lower()
    if "," in text:
        return ",".join(sorted(part.strip() for part in text.split(",")))
    return {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false",
            "off": "false"}.get(text, text)
