"""Builds each configured store on first use and caches it, as Django's StorageHandler does.

Nothing is read from settings at import time, so `override_settings(STORES=...)` works.
"""
import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from stores.exceptions import InvalidLocation, UnknownStore
from stores.locations import Location

_lock = threading.Lock()
_cache = {}


def build(name, spec):
    cls = import_string(spec["BACKEND"])
    return cls(name, description=spec.get("DESCRIPTION", ""), weight=spec.get("WEIGHT", 0),
               **spec.get("OPTIONS", {}))


def get_store(name=None):
    """The store called `name`, or the default store; UnknownStore names the known ones."""
    name = name or settings.DEFAULT_STORE
    store = _cache.get(name)
    if store is not None:
        return store
    if name not in settings.STORES:
        raise UnknownStore(name, settings.STORES)
    with _lock:
        if name not in _cache:
            _cache[name] = build(name, settings.STORES[name])
    return _cache[name]


def all_stores():
    """Every configured store, in configuration order."""
    return [get_store(name) for name in settings.STORES]


# Glance's reserved stores (os_glance_staging_store, os_glance_tasks_store) hold data on its
# way in; clients never see or name them, but audits and the scrubber look into them.
RESERVED_PREFIX = "os_glance_"


def reserved(name):
    return name.startswith(RESERVED_PREFIX)


def client_stores():
    """The stores clients see and name: every configured one but the reserved ones."""
    return [store for store in all_stores() if not reserved(store.name)]


def default_store():
    return get_store(settings.DEFAULT_STORE)


def store_for_uri(uri, *, hint=None):
    """The store a location URI belongs to: the hinted store (a location's `store` metadata)
    if it owns the URI, else the first store that does. InvalidLocation if none does."""
    location = Location.parse(uri)
    if hint and hint in settings.STORES and get_store(hint).owns(location):
        return get_store(hint)
    for store in all_stores():
        if store.owns(location):
            return store
    raise InvalidLocation(f"No configured store holds {location}")


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting in ("STORES", "DEFAULT_STORE"):
        _cache.clear()
