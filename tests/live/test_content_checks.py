"""Content checks over HTTP: a refused upload, stage or web-download answers (or fails its
task) with the reason, keeps nothing in any store, and leaves the image queued for a
correct upload; good images become active with qemu-img's virtual size."""
import time
import uuid

import pytest

from tests.live.clients import (OCTET, assert_error, create_image, glance, show_image,
                                stored_files)

pytestmark = pytest.mark.live

REFUSED = [  # (disk image, disk_format claimed, what the answer says)
    ("qcow2-backing", "qcow2",
     "Unsafe image: qcow2 fails its safety checks (backing_file: Image has a backing file)"),
    ("qcow2-data-file", "qcow2",
     "Unsafe image: qcow2 fails its safety checks (data_file: Image has data_file set)"),
    ("qcow2-unknown-feature", "qcow2", "Unsafe image: qcow2 fails its safety checks "
     "(unknown_features: Unknown QCOW2 features found)"),
    ("qcow2-iso", "qcow2", "Image data matches more than one format (iso, qcow2); it is "
     "refused, since each reader would see a different disk"),
    ("vmdk-flat", "vmdk",
     "Unsafe image: vmdk fails its safety checks (descriptor: Unsupported subformat)"),
    ("vmdk-split", "vmdk",
     "Unsafe image: vmdk fails its safety checks (descriptor: Unsupported subformat)"),
    ("qcow2", "raw", "Image data is qcow2, but its disk_format is raw"),
    ("raw", "qcow2", "Image data is raw, but its disk_format is qcow2"),
    ("vmdk", "qcow2", "Image data is vmdk, but its disk_format is qcow2"),
    ("qed", "raw", "Image data is qed, but its disk_format is raw"),
    ("luks", "raw", "Image data is luks, but its disk_format is raw"),
]


def objects_of(live_portal, image_id):
    return {entry for entry in stored_files(live_portal) if image_id in entry[1]}


def put_file(api, image, path, store="cheap"):
    with open(path, "rb") as f:
        return api.put(api.base + image["file"], data=f,
                       headers={**OCTET, "X-Image-Meta-Store": store})


@pytest.mark.parametrize("name, disk_format, message", REFUSED)
def test_a_refused_upload_is_a_415_that_keeps_nothing(api, admin, live_portal, disk_images,
                                                      name, disk_format, message):
    image = create_image(api, disk_format=disk_format)
    refused = put_file(api, image, disk_images[name])
    assert assert_error(refused, 415) == f"{message}. Nothing was kept."
    shown = show_image(admin, image["id"])
    assert (shown["status"], shown["size"], shown["virtual_size"]) == ("queued", None, None)
    assert shown.get("locations", []) == [] and "stores" not in shown
    assert objects_of(live_portal, image["id"]) == set()

    # The same image takes a correct upload afterwards (on the same connection).
    good = {"qcow2": "qcow2", "vmdk": "vmdk", "raw": "raw"}[disk_format]
    assert put_file(api, image, disk_images[good]).status_code == 204
    shown = show_image(api, image["id"])
    assert (shown["status"], shown["stores"]) == ("active", "cheap")
    assert shown["virtual_size"] == disk_images.virtual_size(good)


def test_a_huge_refused_upload_is_answered_without_being_read_to_its_end(api, live_portal,
                                                                         disk_images):
    # 4 GiB claimed as qcow2 but raw, generated while it is sent: the answer comes after the
    # first MiB, and the client stops sending long before the end.
    sent = []

    def body(total=4 * 2**30, piece=bytes(2**20)):
        yield disk_images["raw"].read_bytes()[:2**20]
        sent.append(2**20)
        while sum(sent) < total:
            yield piece
            sent.append(len(piece))

    image = create_image(api, disk_format="qcow2")
    refused = api.put(api.base + image["file"], data=body(), headers=OCTET)
    assert "Image data is raw" in assert_error(refused, 415)
    assert sum(sent) < 512 * 2**20
    assert show_image(api, image["id"])["status"] == "queued"
    assert objects_of(live_portal, image["id"]) == set()


@pytest.mark.parametrize("name, disk_format, qemu_format", [
    ("raw", "raw", "raw"), ("qcow2", "qcow2", "qcow2"), ("vmdk-stream", "vmdk", "vmdk"),
    ("vhd", "vhd", "vpc"), ("vhd-fixed", "vhd", "vpc"), ("vhdx", "vhdx", "vhdx"),
    ("vdi", "vdi", "vdi"), ("iso", "iso", "raw"), ("iso-hybrid", "iso", "raw"),
    ("gpt", "raw", "raw"), ("mbr", "raw", "raw")])
def test_a_good_image_is_active_with_qemu_imgs_virtual_size(api, disk_images, name,
                                                            disk_format, qemu_format):
    image = create_image(api, disk_format=disk_format)
    assert put_file(api, image, disk_images[name], store="file").status_code == 204
    shown = show_image(api, image["id"])
    assert (shown["status"], shown["size"]) == ("active", disk_images[name].stat().st_size)
    assert shown["virtual_size"] == disk_images.virtual_size(name, qemu_format)


def test_staging_a_refused_image_is_a_415_that_stages_nothing(api, live_portal, disk_images):
    image = create_image(api, disk_format="qcow2")
    with open(disk_images["qcow2-backing"], "rb") as f:
        refused = api.put(api.base + f"/v2/images/{image['id']}/stage", data=f, headers=OCTET)
    assert "backing file" in assert_error(refused, 415)
    assert show_image(api, image["id"])["status"] == "queued"
    assert objects_of(live_portal, image["id"]) == set()


def test_a_refused_web_download_fails_its_task_and_keeps_nothing(api, live_portal,
                                                                 web_server, disk_images):
    (web_server.root / "split.vmdk").write_bytes(disk_images["vmdk-split"].read_bytes())
    image = create_image(api, disk_format="vmdk")
    response = api.post(api.base + f"/v2/images/{image['id']}/import", json={
        "method": {"name": "web-download", "uri": f"{web_server.url}/split.vmdk"},
        "stores": ["file", "cheap"]})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tasks = api.get(api.base + f"/v2/images/{image['id']}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            break
        time.sleep(0.3)
    assert tasks[0]["status"] == "failure"
    assert "vmdk fails its safety checks" in tasks[0]["message"]
    shown = show_image(api, image["id"])
    assert (shown["status"], shown["os_glance_failed_import"]) == ("queued", "file,cheap")
    assert objects_of(live_portal, image["id"]) == set()


@pytest.mark.parametrize("name, disk_format, message", [
    ("qcow2-data-file", "qcow2",
     "Unsafe image: qcow2 fails its safety checks (data_file: Image has data_file set)"),
    ("qcow2-unknown-feature", "qcow2", "Unknown QCOW2 features found"),
    ("qcow2-iso", "qcow2", "Image data matches more than one format (iso, qcow2)"),
    ("qed", "raw", "Image data is qed, but its disk_format is raw"),
    ("luks", "raw", "Image data is luks, but its disk_format is raw"),
])
def test_glance_cli_shows_why_the_upload_was_refused(api, live_portal, disk_images,
                                                     tmp_path_factory, name, disk_format,
                                                     message):
    image_name = f"refused-{uuid.uuid4().hex[:8]}"
    result = glance(live_portal, live_portal.user_token, "image-create", "--name", image_name,
                    "--disk-format", disk_format, "--container-format", "bare",
                    "--file", disk_images[name], home=tmp_path_factory.mktemp("glance-home"))
    assert result.returncode != 0
    assert message in result.stderr and "Nothing was kept." in result.stderr
    # glanceclient leaves the image it created, queued, as it does with Glance.
    (image,) = api.get(api.base + "/v2/images", params={"name": image_name}).json()["images"]
    assert image["status"] == "queued"
    assert objects_of(live_portal, image["id"]) == set()
    assert api.delete(api.base + image["self"]).status_code == 204


def test_glance_cli_uploads_a_raw_disk_with_a_gpt_partition_table(api, live_portal,
                                                                  disk_images,
                                                                  tmp_path_factory):
    image_name = f"gpt-{uuid.uuid4().hex[:8]}"
    result = glance(live_portal, live_portal.user_token, "image-create", "--name", image_name,
                    "--disk-format", "raw", "--container-format", "bare",
                    "--file", disk_images["gpt"], home=tmp_path_factory.mktemp("glance-home"))
    assert result.returncode == 0, result.stderr
    (image,) = api.get(api.base + "/v2/images", params={"name": image_name}).json()["images"]
    assert (image["status"], image["virtual_size"]) == ("active",
                                                        disk_images["gpt"].stat().st_size)
    assert api.delete(api.base + image["self"]).status_code == 204
