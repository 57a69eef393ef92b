"""Glance's reserved stores (os_glance_staging_store from a glance-api.conf): staged data
goes there, but clients neither see nor name them."""
import io

import pytest
from django.test import Client

from accounts.services import token_create, user_ensure
from images import services
from images.exceptions import Conflict, Invalid
from images.selectors import Caller
from images.services.imports import image_import, image_import_run, image_stage, task_get
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
STAGING = "os_glance_staging_store"


@pytest.fixture
def staging_store(settings, file_stores, tmp_path):
    root = tmp_path / "stores" / "staging"
    root.mkdir()
    settings.STORES = {**settings.STORES, STAGING: {
        "BACKEND": "stores.backends.file.FileStore", "OPTIONS": {"root": str(root)},
        "DESCRIPTION": "staging", "WEIGHT": 0}}
    settings.STAGING_STORE = STAGING
    return root


def api(admin=False):
    user = user_ensure(username="root" if admin else "alice", project_name="p", admin=admin)
    return Client(HTTP_X_AUTH_TOKEN=token_create(user=user))


def test_stores_info_lists_no_reserved_store(staging_store):
    for path, admin in (("/v2/info/stores", False), ("/v2/info/stores/detail", True)):
        listed = [store["id"] for store in api(admin).get(path).json()["stores"]]
        assert listed == ["fast", "cheap"], path


def test_an_upload_or_an_import_may_not_name_a_reserved_store(staging_store, file_stores):
    image = factories.image()
    with pytest.raises(Invalid, match=f"{STAGING}"):
        services.image_upload(image=image, stream=io.BytesIO(b"data"), store_name=STAGING)
    image.refresh_from_db()
    assert image.status == "queued"
    assert list(staging_store.iterdir()) == []
    image_stage(image=image, stream=io.BytesIO(b"staged data"))
    with pytest.raises(Conflict, match=f"Unknown or read-only store '{STAGING}'"):
        image_import(image=image, body={"method": {"name": "glance-direct"},
                                        "stores": [STAGING]},
                     caller=Caller(project=factories.PROJECT))


def test_glance_direct_stages_in_the_reserved_store_and_imports_into_the_others(
        staging_store, file_stores):
    image = factories.image()
    image_stage(image=image, stream=io.BytesIO(b"staged data"))
    assert [p.name for p in staging_store.iterdir()] == [f"staging-{image.id}"]
    task = image_import(image=image, body={"method": {"name": "glance-direct"},
                                           "stores": ["cheap"]},
                        caller=Caller(project=factories.PROJECT))
    assert image_import_run(task=task_get(task.id))
    image.refresh_from_db()
    assert (image.status, list(staging_store.iterdir())) == ("active", [])
    assert (file_stores["cheap"] / image.id).read_bytes() == b"staged data"
