"""Store health on the pages: probed by beat and kept in the cache, not probed on each page
load, and why a store is unhealthy shown to admins only (it names folders and endpoints)."""
import io
import re
import threading

import pytest
from django.core.management import call_command

from images.tasks import stores_health_task
from stores import health as store_health
from stores.backends.file import FileStore
from stores.registry import get_store
from tests.images.test_portal_views import alice, root  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

PAGES = ["/stores/", "/images/upload/"]


@pytest.fixture
def broken(settings, file_stores, tmp_path):
    """A third store, `broken`, whose folder does not exist; returns that folder."""
    gone = tmp_path / "gone"
    settings.STORES = {**settings.STORES, "broken": {
        "BACKEND": "stores.backends.file.FileStore", "OPTIONS": {"root": str(gone)}}}
    return gone


@pytest.fixture
def probes(monkeypatch):
    """{store name: how many times its health was probed}."""
    counts = {}
    probe = FileStore._health

    def counting(store):
        counts[store.name] = counts.get(store.name, 0) + 1
        return probe(store)

    monkeypatch.setattr(FileStore, "_health", counting)
    return counts


def shown_for(page, name):
    """What a page shows of store `name`: its stores-table row or its upload option."""
    return re.search(rf'<tr data-store="{name}">(.*?)</tr>|<option value="{name}"(.*?)</option>',
                     page, re.S).group(0)


@pytest.mark.parametrize("path", PAGES)
def test_a_non_admin_sees_a_failing_store_unhealthy_without_why(alice, broken, path):
    page = alice.get(path).content.decode()
    assert "unhealthy" in shown_for(page, "broken")
    assert str(broken) not in page and "does not exist" not in page
    assert "MiB free" not in page


@pytest.mark.parametrize("path", PAGES)
def test_an_admin_sees_why_a_store_is_unhealthy(root, broken, path):
    page = root.get(path).content.decode()
    assert f"unhealthy: root {broken} does not exist" in shown_for(page, "broken")


def test_page_loads_within_the_ttl_probe_each_store_once(alice, file_stores, probes):
    for path in PAGES + PAGES:
        assert alice.get(path).status_code == 200
    assert probes == {"fast": 1, "cheap": 1}


def test_a_page_load_while_another_probes_shows_not_checked_yet(alice, file_stores,
                                                                monkeypatch):
    started, release, counts = threading.Event(), threading.Event(), []

    def slow(store):
        counts.append(store.name)
        started.set()
        release.wait(5)
        return store_health.Health(True)

    monkeypatch.setattr(FileStore, "_health", slow)
    first = threading.Thread(target=store_health.last_health, args=(get_store("fast"),))
    first.start()
    try:
        assert started.wait(5)
        page = alice.get("/stores/").content.decode()
    finally:
        release.set()
        first.join()
    assert "not checked yet" in shown_for(page, "fast")
    assert counts.count("fast") == 1


def test_the_beat_task_refreshes_the_kept_health(file_stores, probes, settings):
    store = get_store("fast")
    assert store_health.last_health(store).ok
    file_stores["fast"].rmdir()
    assert store_health.last_health(store).ok          # kept, not probed again
    assert stores_health_task() == {"fast": False, "cheap": True}
    assert not store_health.last_health(store).ok
    assert probes == {"fast": 2, "cheap": 1}
    scheduled = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values()
                 if entry["task"] == "images.tasks.stores_health_task"]
    assert scheduled and scheduled[0]["schedule"] < settings.STORE_HEALTH_TTL


def test_stores_info_probes_now_and_tells_the_operator_why(file_stores):
    assert store_health.last_health(get_store("fast")).ok
    file_stores["fast"].rmdir()
    out = io.StringIO()
    call_command("stores_info", stdout=out, stderr=io.StringIO())
    assert f"root {file_stores['fast']} does not exist" in out.getvalue()
    assert not store_health.last_health(get_store("fast")).ok
