"""openstacksdk against a live portal: discovery, uploads (plain and through the import API),
downloads, listing, updates and deletes, with the SDK's own checksum checks and ours.

The connection is the one a no-keystone deployment uses, unchanged: keystoneauth's
`admin_token` plugin (a fixed token, the portal's URL as endpoint) and
`image_endpoint_override` set to the portal's root URL. The SDK discovers the API version
from the root's 300 versions document and takes the `v2` href from it."""
import hashlib
import os

import openstack
import pytest

from tests.live.clients import (api_session, create_image, show_image, stored_files,
                                upload_image, wait_until)

pytestmark = [
    pytest.mark.live,
    # The SDK's own RemovedInSDK50/60Warning about its internals, raised on every call.
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def connect(live_portal, token):
    return openstack.connection.Connection(
        auth_type="admin_token", auth={"endpoint": live_portal.url, "token": token},
        image_endpoint_override=live_portal.url, image_api_version="2")


@pytest.fixture
def conn(live_portal):
    connection = connect(live_portal, live_portal.user_token)
    yield connection
    connection.close()


@pytest.fixture
def admin_conn(live_portal):
    connection = connect(live_portal, live_portal.admin_token)
    yield connection
    connection.close()


@pytest.fixture
def payload(tmp_path):
    data = os.urandom(3 * 2**20 + 5)
    path = tmp_path / "image.raw"
    path.write_bytes(data)
    return data, path


def unique(prefix):
    return f"{prefix}-{os.urandom(5).hex()}"


def active(conn, image_id):
    def ready():
        image = conn.image.get_image(image_id)
        return image.status == "active" and not image.properties.get(
            "os_glance_importing_to_stores") and image

    return wait_until(ready, message=f"image {image_id} to become active")


def assert_hashes(image, data):
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert (image.hash_algo, image.hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert image.size == len(data)


def test_the_sdk_finds_the_image_api_and_lists_the_stores(conn):
    stores = list(conn.image.stores())
    assert [store.id for store in stores] == ["file", "cheap", "swift", "s3"]
    assert [store.id for store in stores if store.is_default] == ["file"]
    assert set(conn.image.get_import_info().import_methods["value"]) >= {
        "glance-direct", "web-download", "copy-image"}


def test_the_create_response_announces_import_methods_to_the_sdk(conn):
    image = conn.image.create_image(unique("sdk-bare"), disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    assert image.status == "queued"
    assert set(image.image_import_methods) >= {"glance-direct", "web-download", "copy-image"}


def test_create_image_uploads_the_file_and_download_gives_the_same_bytes(
        conn, live_portal, payload, tmp_path):
    data, path = payload
    name = unique("sdk-put")
    image = conn.create_image(name, filename=str(path), disk_format="raw",
                              container_format="bare", wait=True)
    assert image.status == "active"
    assert_hashes(image, data)
    assert image.properties["stores"] == "file"
    assert (live_portal.data_dir / "images" / "file" / image.id).read_bytes() == data

    out = tmp_path / "out.raw"
    conn.download_image(name, output_file=str(out))  # by name: the SDK finds it first
    assert out.read_bytes() == data
    assert conn.image.download_image(image.id).content == data


def test_create_image_with_stores_goes_through_stage_and_import(conn, live_portal, payload):
    data, path = payload
    image = conn.create_image(unique("sdk-stores"), filename=str(path), disk_format="raw",
                              container_format="bare", wait=True, stores=["cheap"])
    image = active(conn, image.id)
    assert_hashes(image, data)
    assert image.properties["stores"] == "cheap"
    assert (live_portal.data_dir / "images" / "cheap" / image.id).read_bytes() == data
    assert not (live_portal.data_dir / "images" / "file" / image.id).exists()


def test_create_image_with_use_import_lands_in_the_default_store(conn, live_portal, payload,
                                                                  tmp_path):
    data, path = payload
    image = conn.create_image(unique("sdk-import"), filename=str(path), disk_format="raw",
                              container_format="bare", wait=True, use_import=True)
    image = active(conn, image.id)
    assert_hashes(image, data)
    assert image.properties["stores"] == "file"
    out = tmp_path / "out.raw"
    conn.download_image(image.id, output_file=str(out))
    assert out.read_bytes() == data


def test_images_follows_next_pages_and_filters_by_tag(conn, live_portal):
    api = api_session(live_portal, live_portal.user_token)
    tag = unique("sdk-tag")
    created = {create_image(api, name=f"sdk-list-{i}", tags=[tag])["id"] for i in range(5)}
    create_image(api, name="sdk-list-untagged")

    assert {image.id for image in conn.image.images(tag=tag, limit=2)} == created
    assert created <= {image.id for image in conn.image.images()}


def test_update_image_properties_patches_the_image(conn, live_portal):
    api = api_session(live_portal, live_portal.user_token)
    image = create_image(api, name=unique("sdk-update"))
    assert conn.update_image_properties(image=conn.image.get_image(image["id"]),
                                        os_distro="cirros", flavour="tiny")
    shown = show_image(api, image["id"])
    assert (shown["os_distro"], shown["flavour"], shown["name"]) == \
        ("cirros", "tiny", image["name"])


def test_copy_image_with_a_single_store_sends_header_and_list_and_is_accepted(
        admin_conn, live_portal):
    api = api_session(live_portal, live_portal.admin_token)
    data = os.urandom(400_000)
    image = upload_image(api, create_image(api, name=unique("sdk-copy")), data)

    # The SDK sends "stores": ["cheap"] and X-Image-Meta-Store: cheap together.
    admin_conn.image.import_image(admin_conn.image.get_image(image["id"]),
                                  method="copy-image", store="cheap")
    copied = active(admin_conn, image["id"])
    assert set(copied.properties["stores"].split(",")) == {"file", "cheap"}
    assert (live_portal.data_dir / "images" / "cheap" / image["id"]).read_bytes() == data


def test_delete_image_waits_until_the_image_and_its_data_are_gone(conn, live_portal,
                                                                   payload):
    data, _ = payload
    api = api_session(live_portal, live_portal.user_token)
    name = unique("sdk-delete")
    image = upload_image(api, create_image(api, name=name), data)

    assert conn.delete_image(name, wait=True) is True
    assert conn.get_image(image["id"]) is None
    assert ("file", image["id"]) not in stored_files(live_portal)
    assert image["id"] not in {listed.id for listed in conn.image.images()}


def test_a_refused_image_raises_with_the_reason_and_the_sdk_leaves_no_image(
        conn, live_portal, disk_images):
    name = unique("sdk-unsafe")
    before = stored_files(live_portal)
    with pytest.raises(openstack.exceptions.SDKException,
                       match="Image has a backing file"):
        conn.create_image(name, filename=str(disk_images["qcow2-backing"]),
                          disk_format="qcow2", container_format="bare", wait=True)
    # The SDK deletes the image it made when the upload fails; nothing reached a store.
    assert list(conn.image.images(name=name)) == []
    assert stored_files(live_portal) - before == set()


def test_the_sdk_shows_the_apis_message_of_a_refusal_not_just_its_reason(conn, live_portal):
    """JSON errors reach the SDK whether it asks for JSON (a show) or sends an empty Accept
    (a patch): a plain-text body would leave it the reason phrase alone."""
    api = api_session(live_portal, live_portal.user_token)
    image = create_image(api, name=unique("sdk-refused"))
    with pytest.raises(openstack.exceptions.ForbiddenException, match="publicize"):
        conn.image.update_image(image["id"], visibility="public")
    assert api.delete(api.base + image["self"]).status_code == 204
    with pytest.raises(openstack.exceptions.NotFoundException,
                       match=f"No image found with ID {image['id']}"):
        conn.image.get_image(image["id"])
