"""Per-project quotas: each limit refused with 413 naming the limit and the usage, and what a
refusal leaves (no object in any store, no location row, the image `queued`)."""
import contextlib
import io
import os
import threading
from pathlib import Path

import pytest
import tomllib
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from accounts.models import Project, ProjectQuota
from accounts.services import user_ensure
from images import services
from images.exceptions import Forbidden, QuotaExceeded
from images.models import Image, ImageLocation, ImageProperty, Task
from images.selectors import Caller
from images.services import quotas
from images.services.imports import image_import, image_import_run, image_stage, task_get
from images.services.properties import property_get
from stores import config
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]
PROJECT = factories.PROJECT


def store_keys(root):
    """Every object a file store holds, staging objects included."""
    return sorted(p.name for p in root.iterdir())


def left_queued_with_nothing(image, file_stores):
    image.refresh_from_db()
    assert (image.status, image.size, image.checksum) == (Image.Status.QUEUED, None, None)
    assert not ImageLocation.all_objects.filter(image=image).exists()
    assert all(store_keys(root) == [] for root in file_stores.values())


@pytest.fixture
def limits(settings):
    """Set the [quotas] defaults for every project."""

    def set_limits(**values):
        settings.IMAGE_QUOTAS = values

    return set_limits


# Configuration

def test_the_quotas_table_gives_every_projects_defaults_and_minus_one_is_unlimited():
    raw = tomllib.loads("""
        [stores.file]
        backend = "file"
        root = "/srv/images"
        [quotas]
        image_size_total = 10737418240
        image_count_total = 100
        image_count_uploading = -1
    """)
    parsed = config.parse(raw, environ={}, base_dir="/tmp")
    assert parsed["QUOTAS"] == {"image_size_total": 10737418240, "image_count_total": 100}


@pytest.mark.parametrize("table, error", [
    ("image_bytes = 1", "unknown option 'image_bytes'"),
    ("image_size_total = \"10GiB\"", "image_size_total must be an integer"),
    ("image_count_total = -5", "image_count_total must be an integer"),
])
def test_a_bad_quotas_table_stops_start_up_naming_the_option(table, error):
    raw = tomllib.loads(f'[stores.file]\nbackend = "file"\nroot = "/x"\n[quotas]\n{table}\n')
    with pytest.raises(ImproperlyConfigured, match=error):
        config.parse(raw, environ={}, base_dir="/tmp")


def test_without_a_quotas_table_nothing_is_limited(limits):
    limits()
    assert quotas.limits_for(PROJECT) == dict.fromkeys(quotas.RESOURCES, -1)


def test_an_admins_override_beats_the_default_and_an_empty_field_keeps_it(limits):
    limits(image_size_total=1000, image_count_total=5)
    project = Project.objects.create(id=PROJECT, name="limited")
    ProjectQuota.objects.create(project=project, image_size_total=-1, image_count_uploading=2)
    assert quotas.limits_for(PROJECT) == {"image_size_total": -1, "image_stage_total": -1,
                                          "image_count_total": 5, "image_count_uploading": 2}
    assert quotas.limits_for("another")["image_size_total"] == 1000


# image_count_total

def test_creating_an_image_past_the_count_limit_is_413_with_limit_and_usage(limits):
    limits(image_count_total=2)
    factories.image()
    factories.image()
    with pytest.raises(QuotaExceeded) as info:
        factories.image(name="third")
    assert info.value.status == 413
    assert info.value.message == ("Quota exceeded for image_count_total: the limit is 2 images "
                                  "and the project uses 2 images; this request would add 1 "
                                  "image.")
    assert not Image.objects.filter(name="third").exists()
    # Another project is not charged for this one's images.
    assert factories.image(owner=factories.OTHER_PROJECT)


def test_deleted_images_no_longer_count(limits, file_stores):
    limits(image_count_total=1)
    services.image_delete(image=factories.image())
    assert factories.image().status == Image.Status.QUEUED


# image_size_total

def test_an_announced_size_past_the_remaining_bytes_is_refused_before_reading(limits,
                                                                             file_stores):
    limits(image_size_total=1000)
    factories.active_image(b"x" * 600)

    class Untouchable:
        def read(self, n=-1):
            raise AssertionError("the body must not be read")

    image = factories.image()
    with pytest.raises(QuotaExceeded) as info:
        services.image_upload(image=image, stream=Untouchable(), expected_size=401)
    assert "the limit is 1000 bytes and the project uses 600 bytes" in info.value.message
    assert "would add 401 bytes" in info.value.message
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    assert len(store_keys(file_stores["fast"])) == 1  # the first image's data only


def test_a_stream_past_the_remaining_bytes_is_stopped_while_it_streams(limits, file_stores):
    limits(image_size_total=3 * 2**20)
    first, _ = factories.active_image(b"x" * 2**20)
    read = []

    class Endless:
        def read(self, n=-1):
            read.append(n)
            return b"y" * n

    image = factories.image()
    with pytest.raises(QuotaExceeded) as info:
        services.image_upload(image=image, stream=Endless())
    assert "image_size_total: the limit is 3145728 bytes and the project uses 1048576 bytes" \
        in info.value.message
    # Stopped one chunk past the 2 MiB left, not at the end of an endless stream.
    assert sum(read) <= 2 * 2**20 + 2 * 2**20
    assert store_keys(file_stores["fast"]) == [first.id]  # the first image's data only
    image.refresh_from_db()
    assert (image.status, image.size) == (Image.Status.QUEUED, None)
    assert not ImageLocation.all_objects.filter(image=image).exists()


def test_a_project_at_its_limit_cannot_start_an_upload_of_unknown_size(limits, file_stores):
    limits(image_size_total=100)
    factories.active_image(b"x" * 100)
    image = factories.image()
    with pytest.raises(QuotaExceeded):
        services.image_upload(image=image, stream=io.BytesIO(b"z"))
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED


def test_copies_in_other_stores_do_not_count_twice(limits, file_stores):
    limits(image_size_total=1000)
    image, _ = factories.active_image(b"x" * 600)
    services.location_copy(image=image, store_name="cheap")
    assert quotas.usage_of(PROJECT)["image_size_total"] == 600
    assert ImageLocation.objects.filter(image=image).count() == 2
    factories.active_image(b"y" * 400)  # exactly at the limit


def copy_image(image, *stores, admin=False):
    """copy-image of `image` into `stores`, asked by its owner (or an admin), run at once."""
    task = image_import(image=image, body={"method": {"name": "copy-image"},
                                           "stores": list(stores)},
                        caller=Caller(project=PROJECT, admin=admin))
    return image_import_run(task=task_get(task.id))


def test_an_owner_may_not_copy_its_image_into_more_stores_by_default(limits, file_stores):
    # Glance's default policy: copy_image is an admin's call. Refused before anything: no
    # task, no lock, no copy.
    image, _ = factories.active_image(b"x" * 600)
    with pytest.raises(Forbidden, match="admin's call"):
        copy_image(image, "cheap")
    assert not Task.objects.filter(image_id=image.id).exists()
    assert property_get(image, quotas.IMPORTING_PROPERTY) is None
    assert store_keys(file_stores["cheap"]) == []
    assert copy_image(image, "cheap", admin=True)
    assert store_keys(file_stores["cheap"]) == [image.id]


def test_where_owners_copy_each_copy_counts_and_a_copy_past_the_limit_is_refused(
        limits, file_stores, settings):
    settings.COPY_IMAGE = "owner"
    limits(image_size_total=1000)
    image, _ = factories.active_image(b"x" * 400)
    assert copy_image(image, "cheap")
    assert quotas.usage_of(PROJECT)["image_size_total"] == 800  # size x stored copies
    with pytest.raises(QuotaExceeded, match="uses 800 bytes; this request would add 400"):
        factories.active_image(b"y" * 400)
    other, _ = factories.active_image(b"z" * 200)
    # The project is at its limit: a copy of `other` (200 more bytes) is refused at once,
    # before a task or a byte.
    with pytest.raises(QuotaExceeded, match="uses 1000 bytes; this request would add 200"):
        copy_image(other, "cheap")
    assert store_keys(file_stores["cheap"]) == [image.id]
    assert not Task.objects.filter(image_id=other.id).exists()


def test_copy_image_is_an_option_of_the_configuration_admin_or_owner():
    assert config.embedded_default(Path("/data"))["COPY_IMAGE"] == "admin"
    base = {"stores": {"file": {"backend": "file", "root": "/srv/images"}}}
    for value in ("admin", "owner"):
        parsed = config.parse({**base, "copy_image": value}, environ={}, base_dir="/")
        assert parsed["COPY_IMAGE"] == value
    with pytest.raises(ImproperlyConfigured, match='copy_image must be "admin" or "owner"'):
        config.parse({**base, "copy_image": "member"}, environ={}, base_dir="/")


def test_admins_are_charged_to_their_project_unless_it_is_unlimited(limits, file_stores):
    limits(image_size_total=10)
    admin = user_ensure(username="root", project_name="operators", admin=True)
    project = admin.membership.project_id
    image = factories.image(owner=project)
    with pytest.raises(QuotaExceeded):
        services.image_upload(image=image, stream=io.BytesIO(b"x" * 11), expected_size=11)
    ProjectQuota.objects.create(project_id=project, image_size_total=-1)
    services.image_upload(image=image, stream=io.BytesIO(b"x" * 11), expected_size=11)
    image.refresh_from_db()
    assert image.status == Image.Status.ACTIVE


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite's in-memory test database "
                    "refuses a second writing thread ('table is locked'); make test runs this "
                    "on PostgreSQL and MariaDB")
def test_of_two_concurrent_uploads_that_together_pass_the_limit_one_is_refused(limits,
                                                                             file_stores):
    """Both start with the whole limit left and stream side by side; the activation
    transaction counts again, so the second to finish is refused and leaves nothing."""
    limits(image_size_total=1000)
    images = [factories.image(name=f"racer-{i}") for i in range(2)]
    both_streaming = threading.Barrier(2, timeout=10)

    class Racing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() == 0:
                both_streaming.wait()
            return super().read(n)

    outcomes = {}

    def upload(image):
        try:
            services.image_upload(image=Image.objects.get(pk=image.pk),
                                  stream=Racing(os.urandom(600)))
            outcomes[image.id] = "active"
        except QuotaExceeded as exc:
            outcomes[image.id] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(image,)) for image in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(str, outcomes.values())).count("active") == 1, outcomes
    (refused,) = [exc for exc in outcomes.values() if exc != "active"]
    assert "the limit is 1000 bytes and the project uses 600 bytes" in refused.message
    (winner,) = [image for image in images if outcomes[image.id] == "active"]
    (loser,) = [image for image in images if image is not winner]
    assert store_keys(file_stores["fast"]) == [winner.id]
    loser.refresh_from_db()
    assert loser.status == Image.Status.QUEUED and loser.size is None
    assert not ImageLocation.all_objects.filter(image=loser).exists()
    assert quotas.usage_of(PROJECT)["image_size_total"] == 600


# image_count_uploading

def test_an_upload_past_the_uploads_in_progress_limit_is_refused(limits, file_stores):
    limits(image_count_uploading=1)
    busy = factories.image(name="busy")
    Image.objects.filter(pk=busy.pk).update(status=Image.Status.SAVING)
    image = factories.image()
    with pytest.raises(QuotaExceeded) as info:
        services.image_upload(image=image, stream=io.BytesIO(b"data"), expected_size=4)
    assert info.value.message.startswith("Quota exceeded for image_count_uploading: the limit "
                                         "is 1 upload in progress and the project uses 1 upload "
                                         "in progress")
    left_queued_with_nothing(image, file_stores)
    # Once the other upload is over, this one goes through.
    Image.objects.filter(pk=busy.pk).update(status=Image.Status.QUEUED)
    services.image_upload(image=image, stream=io.BytesIO(b"data"), expected_size=4)


# image_stage_total

def test_staging_past_the_staging_limit_is_refused_and_leaves_nothing(limits, file_stores):
    limits(image_stage_total=1000)
    staged = factories.image(name="staged")
    image_stage(image=staged, stream=io.BytesIO(b"s" * 700), expected_size=700)
    assert quotas.usage_of(PROJECT)["image_stage_total"] == 700
    image = factories.image()
    with pytest.raises(QuotaExceeded) as info:
        image_stage(image=image, stream=io.BytesIO(b"t" * 301))  # size learnt while streaming
    assert "image_stage_total: the limit is 1000 bytes and the project uses 700 bytes" \
        in info.value.message
    image.refresh_from_db()
    assert (image.status, image.size) == (Image.Status.QUEUED, None)
    assert store_keys(file_stores["fast"]) == [f"staging-{staged.id}"]
    image_stage(image=image, stream=io.BytesIO(b"t" * 300))
    assert quotas.usage_of(PROJECT)["image_stage_total"] == 1000


def test_a_glance_direct_import_past_the_size_limit_is_refused_before_its_task(limits,
                                                                              file_stores):
    from images.selectors import Caller
    from images.services.imports import image_import

    limits(image_size_total=500)
    image = factories.image()
    image_stage(image=image, stream=io.BytesIO(b"s" * 501))
    with pytest.raises(QuotaExceeded) as info:
        image_import(image=Image.objects.get(pk=image.pk),
                     body={"method": {"name": "glance-direct"}}, caller=Caller(project=PROJECT))
    assert "would add 501 bytes" in info.value.message
    image.refresh_from_db()
    assert image.status == Image.Status.UPLOADING  # still staged: it may be deleted or retried


@pytest.mark.parametrize("must_succeed", [True, False])
def test_an_import_that_no_longer_fits_when_it_finishes_is_refused_and_keeps_nothing(
        limits, file_stores, must_succeed):
    from images.selectors import Caller
    from images.services.imports import image_import, image_import_run, task_get

    limits(image_size_total=1000)
    image = factories.image()
    image_stage(image=image, stream=io.BytesIO(b"s" * 600))
    task = image_import(image=Image.objects.get(pk=image.pk), caller=Caller(project=PROJECT),
                        body={"method": {"name": "glance-direct"}, "stores": ["fast", "cheap"],
                              "all_stores_must_succeed": must_succeed})
    # Accepted with 600 of 1000 bytes free; another upload takes 500 before the task runs.
    services.image_upload(image=factories.image(), stream=io.BytesIO(b"u" * 500))

    assert image_import_run(task=task_get(task.id)) is False

    assert "Quota exceeded for image_size_total: the limit is 1000 bytes and the project " \
        "uses 500 bytes; this request would add 600 bytes" in task_get(task.id).info.message
    image.refresh_from_db()
    assert (image.status, image.size, image.checksum) == (Image.Status.QUEUED, None, None)
    assert not ImageLocation.objects.filter(image=image).exists()
    assert image.id not in store_keys(file_stores["fast"]) + store_keys(file_stores["cheap"])
    assert "Quota exceeded" in ImageProperty.objects.get(
        image=image, name="os_glance_upload_error", deleted=False).value


def test_a_web_download_is_stopped_when_it_passes_the_bytes_left(limits, file_stores):
    from images.selectors import Caller
    from images.services.imports import image_import, image_import_run, task_get

    limits(image_size_total=1000)
    served = []

    class Unsized(io.BytesIO):
        length = None  # a server that sends no Content-Length

    @contextlib.contextmanager
    def fetch(url):
        served.append(Unsized(b"w" * 5000))
        yield served[-1]

    image = factories.image()
    task = image_import(image=image, caller=Caller(project=PROJECT),
                        body={"method": {"name": "web-download", "uri": "https://example.org/x"}})
    assert image_import_run(task=task_get(task.id), fetch=fetch) is False
    assert "Quota exceeded for image_size_total: the limit is 1000 bytes" in \
        task_get(task.id).info.message
    left_queued_with_nothing(image, file_stores)


def test_the_image_create_command_refuses_past_the_count_limit(limits):
    from django.core.management import CommandError, call_command

    limits(image_count_total=0)
    with pytest.raises(CommandError, match="Quota exceeded for image_count_total"):
        call_command("image_create", "--name", "cli", "--owner", PROJECT, stdout=io.StringIO())
    assert not Image.all_objects.filter(name="cli").exists()


# What the usage says

def test_usage_counts_each_resource_of_the_project_only(limits, file_stores):
    limits(image_count_total=10)
    factories.active_image(b"x" * 300)
    staged = factories.image()
    image_stage(image=staged, stream=io.BytesIO(b"s" * 50))
    factories.image()
    factories.active_image(b"o" * 999, owner=factories.OTHER_PROJECT)
    assert quotas.usage_of(PROJECT) == {"image_size_total": 300, "image_stage_total": 50,
                                        "image_count_total": 3, "image_count_uploading": 1}


# The API and the portal

def signed_in(username, *, admin=False, project=None):
    user = user_ensure(username=username, project_name=project or f"{username}-project",
                       admin=admin)
    client = Client(HTTP_ACCEPT="application/json")
    client.force_login(user)
    client.project = user.membership.project_id
    return client


def test_the_api_answers_413_in_its_error_format_and_keeps_nothing(limits, file_stores):
    limits(image_size_total=2**20)
    api = signed_in("alice")
    image_id = api.post("/v2/images", {"name": "big", "disk_format": "raw",
                                       "container_format": "bare"},
                        content_type="application/json").json()["id"]
    response = api.put(f"/v2/images/{image_id}/file", b"x" * (2**20 + 1),
                       content_type="application/octet-stream")
    assert response.status_code == 413
    assert response.json() == {"error": {
        "code": 413, "title": "Request Entity Too Large",
        "message": "Quota exceeded for image_size_total: the limit is 1048576 bytes and the "
                   "project uses 0 bytes; this request would add 1048577 bytes."}}
    image = Image.objects.get(pk=image_id)
    left_queued_with_nothing(image, file_stores)


def test_the_api_refuses_an_image_past_the_count_limit_with_413(limits):
    limits(image_count_total=0)
    api = signed_in("alice")
    response = api.post("/v2/images", {"name": "none"}, content_type="application/json")
    assert response.status_code == 413
    assert "image_count_total: the limit is 0 images" in response.json()["error"]["message"]
    assert not Image.objects.filter(owner=api.project).exists()


def test_the_usage_endpoint_answers_in_glances_shape_for_the_callers_project(limits,
                                                                            file_stores):
    limits(image_size_total=10 * 2**20, image_count_total=7)
    api = signed_in("alice")
    factories.active_image(b"x" * (3 * 2**20 + 5), owner=api.project)
    factories.active_image(b"x" * 2**20, owner="someone-else")
    assert api.get("/v2/info/usage").json() == {"usage": {
        "image_size_total": {"usage": 3, "limit": 10},
        "image_stage_total": {"usage": 0, "limit": -1},
        "image_count_total": {"usage": 1, "limit": 7},
        "image_count_uploading": {"usage": 0, "limit": -1},
    }}


def test_the_usage_page_shows_the_users_project_with_bars_and_no_other(limits, file_stores):
    limits(image_size_total=1000, image_count_total=4)
    alice = signed_in("alice")
    signed_in("bob")
    factories.active_image(b"x" * 250, owner=alice.project)
    page = alice.get("/usage/").content.decode()
    assert 'href="/usage/"' in page
    row = page.split('data-resource="image_size_total"')[1].split("</tr>")[0]
    assert 'value="25"' in row and "250 bytes" in row and "1000 bytes" in row
    row = page.split('data-resource="image_count_total"')[1].split("</tr>")[0]
    assert 'value="25"' in row and ">1<" in row and ">4<" in row
    assert "unlimited" in page.split('data-resource="image_stage_total"')[1].split("</tr>")[0]
    assert 'id="projects-usage"' not in page and "bob-project" not in page


def test_admins_see_every_projects_usage(limits, file_stores):
    limits(image_count_total=1)
    root = signed_in("root", admin=True)
    alice = signed_in("alice")
    factories.image(owner=alice.project)
    page = root.get("/usage/").content.decode()
    table = page.split('id="projects-usage"')[1]
    row = table.split(f'data-project="{alice.project}"')[1].split("</tr>")[0]
    assert "alice-project" in row and 'class="num over"' in row
    assert 'data-project="' + root.project + '"' in table


def test_the_admin_edits_a_projects_quota_inline(file_stores):
    root = signed_in("root", admin=True)
    project = Project.objects.get(pk=root.project)
    page = root.get(f"/admin/accounts/project/{project.pk}/change/").content.decode()
    assert "quota-0-image_size_total" in page
    assert root.get("/admin/accounts/projectquota/").status_code == 200
