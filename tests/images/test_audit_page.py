"""The Audit page: counts and problems from the recorded findings of each database, and
acting on them."""
import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.services import user_ensure
from images.models import AuditFinding, ImageLocation, StoreWrite
from images.services.audit import audit_run
from tests import factories
from tests.glance_alias import glance_db  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)
RAW_FAST = "3aa2181a-dd1a-45bb-b7ac-726d1614e417"  # a Glance image, only in `fast`


@pytest.fixture
def staff():
    client = Client()
    client.force_login(user_ensure(username="auditor", admin=True))
    return client


@pytest.fixture
def strict_staff():
    """A staff client that must send the CSRF token, as a browser does."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_ensure(username="auditor", admin=True))
    return client


@pytest.fixture
def eager_tasks():
    from portal.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def audit(*args):
    try:
        call_command("audit_locations", *args, stdout=io.StringIO())
    except SystemExit:
        pass


def with_second_copy(file_stores, image, data):
    copy = file_stores["cheap"] / image.id
    copy.write_bytes(data)
    return ImageLocation.objects.create(image=image, value=f"file://{copy}",
                                        meta_data={"store": "cheap"})


def table(page, name):
    """The <tbody> of the table with id `name`."""
    return re.search(rf'<table id="{name}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)


def foreign_stray(file_stores, data=b"someone else's bytes"):
    """A file in `cheap` that nothing references and the portal did not write, audited."""
    stray = file_stores["cheap"] / "stray"
    stray.write_bytes(data)
    audit()
    return stray, AuditFinding.objects.get(finding="foreign", location=f"file://{stray}")


def test_page_counts_findings_and_lists_problems_with_links(staff, file_stores):
    good, _ = factories.active_image()
    bad, _ = factories.active_image()
    (file_stores["fast"] / bad.id).unlink()
    (file_stores["cheap"] / "stray").write_bytes(b"x")
    audit()
    page = staff.get("/audit/").content.decode()
    assert 'class="finding finding-missing">missing</span></th><td class="num">1' in page
    assert 'class="finding finding-foreign">foreign</span></th><td class="num">1' in page
    assert f'href="/images/{bad.id}/"' in page and f'href="/images/{good.id}/"' not in page
    assert '<rect data-finding="missing"' in page and '<rect data-finding="foreign"' in page
    only_foreign = staff.get("/audit/", {"finding": "foreign"}).content.decode()
    assert 'data-finding="missing"' not in table(only_foreign, "audit-problems")
    assert 'data-finding="foreign"' in table(only_foreign, "audit-foreign")


def test_the_page_is_for_staff_only(file_stores):
    stray = file_stores["cheap"] / "stray"
    stray.write_bytes(b"kept")
    row = AuditFinding.objects.create(store="cheap", location=f"file://{stray}",
                                      finding="foreign", size=4)
    client = Client()
    client.force_login(user_ensure(username="plain"))
    assert client.get("/audit/").status_code == 302
    assert client.post("/audit/start/").status_code == 302
    assert client.get(f"/audit/foreign/{row.id}/").status_code == 302
    assert client.post(f"/audit/foreign/{row.id}/", {
        "store": "cheap", "location": f"file://{stray}", "size": 4}).status_code == 302
    assert client.post("/audit/act/", {"action": "remove-leftover", "store": "cheap",
                                       "location": f"file://{stray}"}).status_code == 302
    assert stray.read_bytes() == b"kept"
    assert list(AuditFinding.objects.values_list("id", flat=True)) == [row.id]


def test_start_runs_an_audit_in_the_worker(staff, file_stores, eager_tasks):
    factories.active_image()
    staff.post("/audit/start/", {"deep": "on"})
    assert AuditFinding.objects.filter(finding="ok", deep=True, database="default").count() == 1


def test_start_refuses_a_database_that_is_not_configured(staff, file_stores, eager_tasks):
    factories.active_image()
    response = staff.post("/audit/start/", {"database": "glance"}, follow=True)
    assert "No database &#x27;glance&#x27; is configured" in response.content.decode()
    assert not AuditFinding.objects.exists()


def test_the_audit_tasks_refuse_an_unconfigured_database(file_stores):
    from images.tasks import audit_all_task, audit_store_task

    with pytest.raises(ValueError, match="No database 'glance'"):
        audit_all_task(database="glance")
    with pytest.raises(ValueError, match="No database 'elsewhere'"):
        audit_store_task("fast", database="elsewhere")
    assert not AuditFinding.objects.exists()


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


def test_a_leftover_has_a_remove_button_and_is_removed(staff, file_stores):
    image, _ = factories.active_image()
    StoreWrite.objects.create(store="cheap", key=image.id, image_id=image.id,
                              purpose=StoreWrite.Purpose.COPY,
                              started_at=timezone.now() - timedelta(minutes=5))
    partial = file_stores["cheap"] / image.id
    partial.write_bytes(b"half a copy")
    audit()
    page = staff.get("/audit/").content.decode()
    leftovers = table(page, "audit-leftovers")
    assert f"file://{partial}" in leftovers and 'value="remove-leftover"' in leftovers
    assert "file://" not in table(page, "audit-foreign")
    response = staff.post("/audit/act/", {"action": "remove-leftover", "store": "cheap",
                                          "location": f"file://{partial}"}, follow=True)
    assert "Removed the leftover object." in response.content.decode()
    assert not partial.exists()
    assert (file_stores["fast"] / image.id).exists()


def test_a_foreign_object_is_never_a_leftover_to_remove(staff, file_stores):
    stray, _ = foreign_stray(file_stores)
    response = staff.post("/audit/act/", {"action": "remove-leftover", "store": "cheap",
                                          "location": f"file://{stray}"}, follow=True)
    assert "did not write that object" in response.content.decode()
    assert stray.read_bytes() == b"someone else's bytes"


def test_a_foreign_row_has_no_delete_form_only_a_link_to_confirm(staff, file_stores):
    stray, row = foreign_stray(file_stores)
    page = staff.get("/audit/").content.decode()
    foreign = table(page, "audit-foreign")
    assert f"file://{stray}" in foreign
    assert "<form" not in foreign and "<button" not in foreign
    assert f'href="/audit/foreign/{row.id}/"' in foreign
    forms = re.findall(r"<form\b.*?</form>", page, re.S)
    assert not [form for form in forms if f"file://{stray}" in form]


def test_legacy_orphan_rows_are_shown_without_any_delete_button(staff, file_stores):
    stray = file_stores["cheap"] / "stray"
    stray.write_bytes(b"x")
    AuditFinding.objects.create(store="cheap", location=f"file://{stray}", finding="orphan",
                                detail="no location references this object")
    page = staff.get("/audit/").content.decode()
    orphans = table(page, "audit-orphans")
    assert f"file://{stray}" in orphans and "<form" not in orphans and "<a " not in orphans
    assert "delete-orphan" not in page
    # The old one-click action is gone.
    response = staff.post("/audit/act/", {"action": "delete-orphan", "store": "cheap",
                                          "location": f"file://{stray}"}, follow=True)
    assert "Unknown action." in response.content.decode()
    assert stray.read_bytes() == b"x"


def test_the_confirmation_page_shows_the_object_its_location_and_size(staff, file_stores):
    stray, row = foreign_stray(file_stores, data=b"z" * 3000)
    page = staff.get(f"/audit/foreign/{row.id}/").content.decode()
    assert "The portal did not write this object." in page
    assert f"file://{stray}" in page and ">stray<" in page
    assert "3000 bytes (2.9 KiB)" in page
    form = re.search(r'<form method="post"[^>]*id="foreign-remove">(.*?)</form>', page,
                     re.S).group(1)
    assert 'name="store" value="cheap"' in form
    assert f'name="location" value="file://{stray}"' in form
    assert 'name="size" value="3000"' in form and "csrfmiddlewaretoken" in form


def test_a_foreign_object_is_removed_only_with_its_confirmed_size(staff, file_stores):
    data = b"z" * 3000
    stray, row = foreign_stray(file_stores, data=data)
    fields = {"store": "cheap", "location": f"file://{stray}"}
    for size in (2999, 3001, ""):
        response = staff.post(f"/audit/foreign/{row.id}/", {**fields, "size": size},
                              follow=True)
        assert "nothing was removed" in response.content.decode().lower(), size
        assert stray.read_bytes() == data
    response = staff.post(f"/audit/foreign/{row.id}/", {**fields, "size": 3000}, follow=True)
    assert "Removed the foreign object" in response.content.decode()
    assert not stray.exists()


def test_a_foreign_object_referenced_since_the_audit_is_kept(staff, file_stores):
    data = b"now an image's data"
    stray, row = foreign_stray(file_stores, data=data)
    image = factories.image()
    ImageLocation.objects.create(image=image, value=f"file://{stray}",
                                 meta_data={"store": "cheap"})
    response = staff.post(f"/audit/foreign/{row.id}/", {
        "store": "cheap", "location": f"file://{stray}", "size": len(data)}, follow=True)
    assert "Not removed: " in response.content.decode()
    assert stray.read_bytes() == data


def test_a_foreign_object_that_changed_since_the_audit_has_no_remove_form(staff, file_stores):
    stray, row = foreign_stray(file_stores, data=b"z" * 3000)
    stray.write_bytes(b"z" * 4000)
    page = staff.get(f"/audit/foreign/{row.id}/").content.decode()
    assert "now 4000 bytes" in page and 'id="foreign-remove"' not in page


def test_removals_need_the_csrf_token(strict_staff, file_stores):
    data = b"z" * 3000
    stray, row = foreign_stray(file_stores, data=data)
    fields = {"store": "cheap", "location": f"file://{stray}", "size": 3000}
    assert strict_staff.post(f"/audit/foreign/{row.id}/", fields).status_code == 403
    assert strict_staff.post("/audit/act/", {**fields, "action": "remove-leftover"}) \
        .status_code == 403
    assert strict_staff.post("/audit/start/", {}).status_code == 403
    assert stray.read_bytes() == data
    page = strict_staff.get(f"/audit/foreign/{row.id}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = strict_staff.post(f"/audit/foreign/{row.id}/",
                                 {**fields, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and not stray.exists()


def test_every_form_of_the_audit_pages_carries_a_csrf_token(staff, file_stores):
    _, row = foreign_stray(file_stores)
    for url in ("/audit/", f"/audit/foreign/{row.id}/"):
        page = staff.get(url).content.decode()
        forms = [form for form in re.findall(r"<form\b[^>]*>.*?</form>", page, re.S)
                 if 'method="post"' in form]
        assert forms and all("csrfmiddlewaretoken" in form for form in forms), url


# With an existing Glance database (the `glance` alias) ------------------------------------

def test_the_switch_selects_the_findings_of_each_database(staff, glance_db):
    (glance_db / "images" / "fast" / RAW_FAST).unlink()           # Glance's copy is gone
    (glance_db / "images" / "cheap" / "stray").write_bytes(b"nobody's")
    audit_run(using="glance", keep=lambda finding: False)
    AuditFinding.objects.create(store="fast", location="file:///elsewhere/portal-only",
                                finding="orphan", detail="an audit before the journal")
    portal = staff.get("/audit/").content.decode()
    glance = staff.get("/audit/", {"db": "glance"}).content.decode()
    assert 'id="database-switch"' in portal and 'id="database-switch"' in glance
    assert '<a href="?db=glance" aria-current="page">Glance database</a>' in glance
    # The Glance audit's findings only behind the switch, the portal's only without it.
    assert RAW_FAST not in portal and "stray" not in portal
    assert "portal-only" in table(portal, "audit-orphans")
    problems = table(glance, "audit-problems")
    assert 'data-finding="missing"' in problems
    assert f'href="/images/{RAW_FAST}/?db=glance"' in problems
    assert "<form" not in problems                       # read-only: no re-copy, no drop
    assert "/var/lib/glance/images/cheap/stray" in table(glance, "audit-foreign")
    assert "portal-only" not in glance
    assert 'class="finding finding-ok">ok</span></th><td class="num">7' in glance
    assert set(AuditFinding.objects.exclude(finding="orphan")
               .values_list("database", flat=True)) == {"glance"}


def test_an_audit_of_the_glance_database_starts_from_the_page(staff, glance_db, eager_tasks):
    page = staff.get("/audit/", {"db": "glance"}).content.decode()
    form = re.search(r'<form[^>]*id="audit-start">(.*?)</form>', page, re.S).group(1)
    assert 'name="database" value="glance"' in form
    response = staff.post("/audit/start/", {"database": "glance", "store": "cheap"})
    assert response["Location"] == "/audit/?db=glance"
    found = AuditFinding.objects.filter(database="glance")
    assert sorted(found.values_list("finding", flat=True)) == ["ok"] * 4
    assert set(found.values_list("store", flat=True)) == {"cheap"}
    assert not AuditFinding.objects.filter(database="default").exists()


def test_glance_images_are_not_foreign_to_an_audit_of_the_portal(staff, glance_db):
    audit()
    portal = staff.get("/audit/").content.decode()
    assert "No foreign objects." in portal and "Delete" not in portal
