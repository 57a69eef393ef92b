"""Store health as pages show it: the last probe's result, kept in Django's cache.

A probe writes a file or calls Swift or S3 with 10 s timeouts: too slow and too heavy for
every page load. The beat task (images.tasks.stores_health_task) probes each store every
STORE_HEALTH_TTL / 2 seconds and keeps the result for STORE_HEALTH_TTL, so while beat runs
no page probes; without it, the first page load after a result expired probes, and only
that one: the others show the health as not checked yet.
"""
import hashlib
import json

from django.conf import settings
from django.core.cache import cache

# Longer than the slowest probe (Swift and S3: 10 s to connect, 10 s to read): another
# process's probe that died holds the lock no longer than this.
PROBE_LOCK_SECONDS = 30


def _key(store, what):
    # The store's settings are in the key: a store configured anew under the same name (or
    # another portal sharing the cache) never shows the health of another store.
    spec = json.dumps(settings.STORES.get(store.name, {}), sort_keys=True, default=str)
    digest = hashlib.sha256(f"{type(store).__qualname__} {spec}".encode()).hexdigest()[:24]
    return f"stores:{what}:{store.name}:{digest}"


def probe(store):
    """Probe `store` now; the Health is kept for the pages for STORE_HEALTH_TTL seconds."""
    health = store.health()
    cache.set(_key(store, "health"), health, settings.STORE_HEALTH_TTL)
    return health


def last_health(store):
    """The Health of `store`'s last probe, probing it now when none is kept.

    Returns None when another request or process is probing it already: it is not waited
    for, so concurrent page loads on a cold cache probe once, not each.
    """
    health = cache.get(_key(store, "health"))
    if health is not None:
        return health
    lock = _key(store, "probing")
    # add() is atomic on Redis, the database and local memory; the file cache checks then
    # writes, so two processes starting in the same instant may both probe.
    if not cache.add(lock, True, PROBE_LOCK_SECONDS):
        return None
    try:
        return probe(store)
    finally:
        cache.delete(lock)
