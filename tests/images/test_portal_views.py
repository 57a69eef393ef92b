"""The portal's pages: who sees what, and CSRF on every form."""
import io
import re

import pytest
from django.test import Client

from accounts.services import user_ensure
from images import services
from images.models import Image, ImageLocation
from tests import factories
from tests.glance_alias import glance_db  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def signed_in(username, *, admin=False, project=None):
    user = user_ensure(username=username, project_name=project or f"{username}-project",
                       admin=admin)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.project = user.membership.project_id
    return client


@pytest.fixture
def alice():
    return signed_in("alice")


@pytest.fixture
def root():
    return signed_in("root", admin=True)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/images/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_non_admin_sees_no_locations_and_no_admin(alice, file_stores):
    image, _ = factories.active_image(owner=alice.project)
    page = alice.get(f"/images/{image.id}/").content.decode()
    assert 'id="locations"' not in page and "file://" not in page
    assert 'href="/admin/"' not in page
    assert alice.get("/admin/").status_code == 302


def test_an_admin_sees_the_locations_table(root, file_stores):
    image, _ = factories.active_image()
    page = root.get(f"/images/{image.id}/").content.decode()
    assert 'id="locations"' in page
    assert f"file://{file_stores['fast']}/{image.id}" in page


def test_another_projects_private_image_is_404(alice, file_stores):
    image, _ = factories.active_image(owner="someone-else", visibility="private")
    assert alice.get(f"/images/{image.id}/").status_code == 404
    assert alice.get("/images/").content.decode().count(image.id) == 0


def test_every_form_on_every_page_carries_a_csrf_token(root, file_stores):
    image, _ = factories.active_image(store_name="fast")
    ImageLocation.objects.create(image=image, value=f"file://{file_stores['cheap']}/{image.id}",
                                 meta_data={"store": "cheap"})
    (file_stores["cheap"] / image.id).write_bytes((file_stores["fast"] / image.id).read_bytes())
    for url in ("/images/", "/images/upload/", f"/images/{image.id}/", "/stores/"):
        page = root.get(url).content.decode()
        forms = re.findall(r"<form\b[^>]*>.*?</form>", page, re.S)
        post_forms = [form for form in forms if 'method="post"' in form]
        assert all("csrfmiddlewaretoken" in form for form in post_forms), url
    assert post_forms or url == "/stores/"


@pytest.mark.parametrize("action", ["copy", "remove", "delete", "deactivate"])
def test_a_post_without_csrf_token_is_refused_and_changes_nothing(root, file_stores, action):
    image, _ = factories.active_image()
    response = root.post(f"/images/{image.id}/{action}/", {"store": "cheap"})
    assert response.status_code == 403
    image.refresh_from_db()
    assert image.status == "active" and not image.deleted


def test_delete_of_a_protected_image_shows_an_error_and_keeps_it(file_stores):
    client = Client()
    user = user_ensure(username="owner", project_name="owners")
    client.force_login(user)
    image, _ = factories.active_image(owner=user.membership.project_id, protected=True)
    response = client.post(f"/images/{image.id}/delete/", follow=True)
    assert "is protected" in response.content.decode()
    assert Image.objects.filter(pk=image.pk).exists()


def test_remove_from_store_keeps_the_last_copy(root, file_stores):
    image, data = factories.active_image()
    root.get(f"/images/{image.id}/")
    response = root.post(f"/images/{image.id}/remove/", {"store": "fast"}, follow=True,
                         HTTP_X_CSRFTOKEN=root.cookies["csrftoken"].value)
    assert "only copy" in response.content.decode()
    assert (file_stores["fast"] / image.id).read_bytes() == data


def test_an_owner_may_not_remove_a_copy_by_default_policy(file_stores):
    # Glance's delete_image_location: admins only, unless the policy file says otherwise.
    client = Client()
    user = user_ensure(username="owner", project_name="owners")
    client.force_login(user)
    image, data = factories.active_image(owner=user.membership.project_id)
    services.location_copy(image=image, store_name="cheap")
    response = client.post(f"/images/{image.id}/remove/", {"store": "cheap"}, follow=True)
    assert "not permitted" in response.content.decode()
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    assert ImageLocation.objects.filter(image=image, deleted=False).count() == 2


def test_images_list_filters_by_store_and_name(root, file_stores):
    in_fast, _ = factories.active_image(name="alpha")
    in_cheap, _ = factories.active_image(name="beta", store_name="cheap")
    page = root.get("/images/", {"store": "cheap"}).content.decode()
    assert in_cheap.id in page and in_fast.id not in page
    page = root.get("/images/", {"q": "alp"}).content.decode()
    assert in_fast.id in page and in_cheap.id not in page


def test_stores_page_shows_each_store_with_health_and_usage(root, file_stores):
    factories.active_image(data=b"x" * 1000)
    page = root.get("/stores/").content.decode()
    fast = re.search(r'<tr data-store="fast">(.*?)</tr>', page, re.S).group(1)
    cheap = re.search(r'<tr data-store="cheap">(.*?)</tr>', page, re.S).group(1)
    assert ">ok<" in fast and ">ok<" in cheap
    assert '<td class="num">1</td>' in fast and 'title="1000 bytes"' in fast
    assert '<td class="num">0</td>' in cheap
    assert page.count("<rect data-store=") == 2


def store_cells(page, name):
    return re.search(rf'<tr data-store="{name}">(.*?)</tr>', page, re.S).group(1)


def test_stores_page_counts_the_glance_databases_images_when_switched(root, glance_db):
    import sqlite3

    # A location without `store` metadata is placed by its URI, as the audit places it.
    with sqlite3.connect(glance_db / "glance.sqlite") as db:
        db.execute("update image_locations set meta_data = '{}' where id = 1")
    factories.active_image(data=b"x" * 1000)              # the portal's own, in fast
    page = root.get("/stores/", {"db": "glance"}).content.decode()
    assert "Glance database, read-only" in page
    assert '<a href="?db=glance" aria-current="page">Glance database</a>' in page
    fast, cheap = store_cells(page, "fast"), store_cells(page, "cheap")
    # fast: raw-fast, copied-both, deactivated, copied-then-dropped (its deleted row aside)
    assert '<td class="num">4</td>' in fast and 'title="1253376 bytes"' in fast
    # cheap: file-cirros (no metadata), copied-both, tagged-props, shared-with-member
    assert '<td class="num">4</td>' in cheap and 'title="3604480 bytes"' in cheap
    portal = root.get("/stores/").content.decode()
    assert '<td class="num">1</td>' in store_cells(portal, "fast")
    assert 'title="1000 bytes"' in store_cells(portal, "fast")
    assert '<td class="num">0</td>' in store_cells(portal, "cheap")


def test_only_admins_switch_the_stores_page_to_the_glance_database(alice, glance_db):
    page = alice.get("/stores/", {"db": "glance"}).content.decode()
    assert 'id="database-switch"' not in page and "Glance database" not in page
    assert '<td class="num">0</td>' in store_cells(page, "fast")


def test_image_page_shows_each_locations_last_audit_finding(root, file_stores):
    from django.core.management import call_command

    image, _ = factories.active_image()
    (file_stores["fast"] / image.id).write_bytes(b"short")
    with pytest.raises(SystemExit):
        call_command("audit_locations", stdout=io.StringIO())
    page = root.get(f"/images/{image.id}/").content.decode()
    row = re.search(r'<tr data-store="fast">(.*?)</tr>', page, re.S).group(1)
    assert "finding-size_mismatch" in row


def test_image_page_shows_a_member_only_its_own_membership(file_stores):
    """As the API's member list: a member sees its own entry; the owner and admins see all."""
    owner, bob = signed_in("owner-o"), signed_in("bob")
    stranger, admin = signed_in("carol"), signed_in("root-r", admin=True)
    image, _ = factories.active_image(owner=owner.project, visibility="shared")
    image.members.create(member=bob.project, status="accepted")
    image.members.create(member=stranger.project, status="pending")
    image.members.create(member="third-project", status="rejected")
    everyone = {bob.project, stranger.project, "third-project"}

    def members_on_page(client):
        page = client.get(f"/images/{image.id}/")
        assert page.status_code == 200
        listed = re.search(r'<ul id="members">(.*?)</ul>', page.content.decode(), re.S)[1]
        return {project for project in everyone if project in listed}

    assert members_on_page(owner) == everyone
    assert members_on_page(admin) == everyone
    assert members_on_page(bob) == {bob.project}
    assert members_on_page(stranger) == {stranger.project}


def test_an_owner_is_offered_no_copy_and_a_forged_copy_is_refused(alice, file_stores):
    # copy-image is an admin's call (Glance's default policy): no form, and a POST made by
    # hand (with its CSRF token) copies nothing.
    image, _ = factories.active_image(owner=alice.project, store_name="fast")
    page = alice.get(f"/images/{image.id}/").content.decode()
    assert 'id="copy-form"' not in page
    token = alice.cookies["csrftoken"].value
    response = alice.post(f"/images/{image.id}/copy/", {"store": "cheap"},
                          HTTP_X_CSRFTOKEN=token, follow=True)
    assert "an admin&#x27;s call" in response.content.decode()
    assert list(file_stores["cheap"].iterdir()) == []


def test_where_owners_copy_the_copy_form_is_offered_to_them(alice, file_stores, settings):
    settings.COPY_IMAGE = "owner"
    image, _ = factories.active_image(owner=alice.project, store_name="fast")
    assert 'id="copy-form"' in alice.get(f"/images/{image.id}/").content.decode()
