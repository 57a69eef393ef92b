"""The portal registered in a real Keystone's catalog, under gunicorn with
[keystone_authtoken]: the glance CLI and openstacksdk find it from their credentials alone
(no endpoint, no token given), as a cloud's users run them."""
import hashlib
import os
import subprocess

import openstack
import pytest

from tests.live.clients import GLANCE, close_stdin, property_table
from tests.live.server import ROOT

pytestmark = [pytest.mark.keystone, pytest.mark.live]

@pytest.fixture(scope="module")
def catalog_portal(keystone, keystone_portal):
    """The live portal, as the image service of the Keystone's catalog."""
    keystone.point_image_endpoint(keystone_portal.url)
    return keystone_portal


def credentials(keystone, user, project):
    """What a user's clouds.yaml or openrc holds: Keystone's address and the user's
    credentials, nothing of the image service."""
    return {"OS_AUTH_URL": keystone.url + "/v3", "OS_USERNAME": user,
            "OS_PASSWORD": keystone.password_of(user), "OS_PROJECT_NAME": project,
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": "RegionOne",
            "OS_INTERFACE": "public"}


def glance(keystone, user, project, *args, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(credentials(keystone, user, project), HOME=str(home))
    return subprocess.run([str(GLANCE), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=180, preexec_fn=close_stdin, cwd=ROOT)


def test_glance_cli_uploads_into_a_chosen_store_found_through_the_catalog(
        keystone, catalog_portal, tmp_path):
    data = os.urandom(2 * 2**20 + 7)
    image_file = tmp_path / "cirros.raw"
    image_file.write_bytes(data)
    made = glance(keystone, "demo", "demo", "image-create", "--name", "cirros",
                  "--disk-format", "raw", "--container-format", "bare", "--file", image_file,
                  "--store", "cheap", home=tmp_path)
    assert made.returncode == 0, made.stderr
    image = property_table(made.stdout)
    assert (image["status"], image["stores"]) == ("active", "cheap")
    assert image["owner"] == keystone.project_id("demo", "demo")
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    stored = catalog_portal.data_dir / "images" / "cheap" / image["id"]
    assert stored.read_bytes() == data

    listed = glance(keystone, "demo_reader", "demo", "image-list", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert image["id"] in listed.stdout
    refused = glance(keystone, "demo_reader", "demo", "image-delete", image["id"],
                     home=tmp_path)
    assert refused.returncode != 0
    assert "not permitted to delete" in refused.stderr
    assert stored.exists()


def test_openstacksdk_creates_an_image_with_a_normal_cloud_config(keystone, catalog_portal,
                                                                    tmp_path):
    image_file = tmp_path / "cirros.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image_file), "16M"],
                   check=True)
    conn = openstack.connect(
        auth_url=keystone.url + "/v3", username="alt_demo",
        password=keystone.password_of("alt_demo"), project_name="alt_demo",
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    image = conn.image.create_image(name="cirros", filename=str(image_file),
                                    disk_format="qcow2", container_format="bare",
                                    wait=True)
    try:
        fetched = conn.image.get_image(image.id)
        assert (fetched.status, fetched.owner) == ("active", keystone.project_id("alt_demo",
                                                                               "alt_demo"))
        assert fetched.size == image_file.stat().st_size
        assert b"".join(conn.image.download_image(fetched, stream=True).iter_content(2**16)) \
            == image_file.read_bytes()
    finally:
        conn.image.delete_image(image.id)
