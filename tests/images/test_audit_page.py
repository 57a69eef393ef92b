"""The Audit page: counts and problems from the recorded findings, and acting on them."""
import io

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import user_ensure
from images.models import AuditFinding, ImageLocation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    client = Client()
    client.force_login(user_ensure(username="auditor", admin=True))
    return client


@pytest.fixture
def eager_tasks():
    from portal.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def audit():
    try:
        call_command("audit_locations", stdout=io.StringIO())
    except SystemExit:
        pass


def with_second_copy(file_stores, image, data):
    copy = file_stores["cheap"] / image.id
    copy.write_bytes(data)
    return ImageLocation.objects.create(image=image, value=f"file://{copy}",
                                        meta_data={"store": "cheap"})


def test_page_counts_findings_and_lists_problems_with_links(staff, file_stores):
    good, _ = factories.active_image()
    bad, _ = factories.active_image()
    (file_stores["fast"] / bad.id).unlink()
    (file_stores["cheap"] / "stray").write_bytes(b"x")
    audit()
    page = staff.get("/audit/").content.decode()
    assert 'class="finding finding-missing">missing</span></th><td class="num">1' in page
    assert 'class="finding finding-orphan">orphan</span></th><td class="num">1' in page
    assert f'href="/images/{bad.id}/"' in page and f'href="/images/{good.id}/"' not in page
    only_orphans = staff.get("/audit/", {"finding": "orphan"}).content.decode()
    assert 'data-finding="missing"' not in only_orphans and 'data-finding="orphan"' in only_orphans


def test_the_page_is_for_staff_only(file_stores):
    client = Client()
    client.force_login(user_ensure(username="plain"))
    assert client.get("/audit/").status_code == 302
    assert client.post("/audit/start/").status_code == 302
    assert not AuditFinding.objects.exists()


def test_start_runs_an_audit_in_the_worker(staff, file_stores, eager_tasks):
    factories.active_image()
    staff.post("/audit/start/", {"deep": "on"})
    assert AuditFinding.objects.filter(finding="ok", deep=True).count() == 1


def test_recopy_replaces_a_broken_copy_from_a_healthy_one(staff, file_stores, eager_tasks):
    image, data = factories.active_image()
    broken = with_second_copy(file_stores, image, data)
    (file_stores["cheap"] / image.id).write_bytes(b"rotten")
    staff.post("/audit/act/", {"action": "recopy", "location_id": broken.id})
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    live = ImageLocation.objects.filter(image=image, status="active")
    assert sorted(loc.store for loc in live) == ["cheap", "fast"]
    assert not ImageLocation.objects.filter(pk=broken.pk).exists()


def test_the_only_copy_is_never_dropped(staff, file_stores):
    image, data = factories.active_image()
    location = ImageLocation.objects.get(image=image)
    response = staff.post("/audit/act/", {"action": "forget", "location_id": location.id},
                          follow=True)
    assert "only copy" in response.content.decode()
    assert (file_stores["fast"] / image.id).read_bytes() == data
    assert ImageLocation.objects.filter(pk=location.pk).exists()


def test_an_orphan_is_deleted_only_while_it_still_is_one(staff, file_stores):
    image, data = factories.active_image()
    stray = file_stores["cheap"] / "stray"
    stray.write_bytes(b"x")
    staff.post("/audit/act/", {"action": "delete-orphan", "store": "cheap",
                               "location": f"file://{stray}"})
    assert not stray.exists()
    # a referenced object is refused even if a stale finding called it an orphan
    response = staff.post("/audit/act/", {"action": "delete-orphan", "store": "fast",
                                          "location": f"file://{file_stores['fast']}/{image.id}"},
                          follow=True)
    assert "not an orphan" in response.content.decode()
    assert (file_stores["fast"] / image.id).read_bytes() == data
