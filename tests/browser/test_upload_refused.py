"""An upload whose content is refused (not its disk format, or unsafe): the page shows the
API's message, and nothing is kept."""
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import eventually, get_image, login, objects_named, random_file

pytestmark = pytest.mark.live

MiB = 2**20


def upload_through_the_page(page, images, path, disk_format):
    login(page, "root")
    page.goto("/images/upload/")
    page.fill('input[name="name"]', f"browser-refused-{uuid.uuid4().hex[:8]}")
    page.select_option('select[name="disk_format"]', disk_format)
    page.set_input_files("#file", path)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/v2/images")) as created:
        page.click("#upload-button")
    return images.track(created.value.json()["id"])


def test_an_unsafe_image_is_refused_with_the_reason_on_the_page(
        page, portal, images, disk_images, browser_problems):
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 415")
    image_id = upload_through_the_page(page, images, disk_images["qcow2-backing"], "qcow2")
    status = page.locator("#upload-status.error")
    expect(status).to_be_visible(timeout=60_000)
    expect(status).to_contain_text("Unsafe image: qcow2 fails its safety checks (backing_file: "
                                   "Image has a backing file). Nothing was kept.")
    expect(page.locator("#upload-status")).not_to_contain_text("Uploaded")
    image = get_image(portal, image_id)
    assert (image["status"], image["size"]) == ("queued", None)
    assert objects_named(portal, image_id) == []
    # The image's page says why its data is missing.
    page.locator("#upload-status a#image-link").click()
    expect(page.locator("#upload-error")).to_contain_text("backing file")


@pytest.mark.parametrize("name, disk_format, message", [
    ("qed", "raw", "Image data is qed, but its disk_format is raw"),
    ("luks", "raw", "Image data is luks, but its disk_format is raw"),
    ("qcow2-unknown-feature", "qcow2", "Unknown QCOW2 features found"),
    ("qcow2-iso", "qcow2", "Image data matches more than one format (iso, qcow2)"),
])
def test_qed_luks_unknown_features_and_polyglots_are_refused_on_the_page(
        page, portal, images, disk_images, browser_problems, name, disk_format, message):
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 415")
    image_id = upload_through_the_page(page, images, disk_images[name], disk_format)
    status = page.locator("#upload-status.error")
    expect(status).to_be_visible(timeout=60_000)
    expect(status).to_contain_text(message)
    assert get_image(portal, image_id)["status"] == "queued"
    assert objects_named(portal, image_id) == []


def test_a_raw_disk_with_a_gpt_partition_table_is_uploaded_on_the_page(page, portal, images,
                                                                        disk_images):
    image_id = upload_through_the_page(page, images, disk_images["gpt"], "raw")
    expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
    image = get_image(portal, image_id)
    assert (image["status"], image["virtual_size"]) == ("active",
                                                        disk_images["gpt"].stat().st_size)


def test_a_big_file_that_is_not_its_disk_format_is_refused_early_with_the_reason(
        page, portal, images, tmp_path, browser_problems):
    # 200 MiB of random bytes claimed as qcow2: refused after the first MiB; the page gets
    # the answer while the browser is still sending.
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 415")
    browser_problems.allow(r"net::ERR_")
    path = random_file(tmp_path / "disk.img", 200 * MiB)
    image_id = upload_through_the_page(page, images, path, "qcow2")
    status = page.locator("#upload-status.error")
    expect(status).to_be_visible(timeout=60_000)
    expect(status).to_contain_text("Image data is raw, but its disk_format is qcow2")
    assert get_image(portal, image_id)["status"] == "queued"
    eventually(lambda: objects_named(portal, image_id) == [])
