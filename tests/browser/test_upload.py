"""Uploading through the page: create with POST /v2/images, send the file with an XHR PUT
into the store picked in the dropdown, watch the progress, find the bytes in that store."""
import hashlib
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (get_image, login, option_values, properties_of,
                                    random_file, store_file)

pytestmark = pytest.mark.live

MiB = 2**20
STORES = {"file": "Local disk", "cheap": "Second disk", "swift": "Swift", "s3": "S3"}
RATE = re.compile(r"^\d+(\.\d+)? (B|KiB|MiB|GiB)/s$")
# The rows of the seed story's image table (image_show), in the page's table#properties.
SEED_ROWS = ("checksum", "container_format", "created_at", "disk_format", "id", "min_disk",
             "min_ram", "name", "owner", "protected", "size", "status", "updated_at",
             "virtual_size", "visibility", "os_hash_algo", "os_hash_value", "stores")


def test_upload_page_offers_every_store_with_its_health_and_the_default_preselected(page):
    login(page, "alice")
    page.click("a#upload-link")
    page.wait_for_url(re.compile(r"/images/upload/$"))
    form = page.locator("form#upload-form")
    assert form.locator('input[name="csrfmiddlewaretoken"]').input_value()
    for field in ('input[name="name"]', 'select[name="disk_format"]',
                  'select[name="container_format"]', 'select[name="visibility"]',
                  'input[name="min_disk"]', 'input[name="min_ram"]',
                  'input[name="protected"][type="checkbox"]', 'textarea[name="properties"]',
                  'input#file[type="file"]', "#upload-button"):
        expect(form.locator(field)).to_have_count(1)

    select = page.locator("select#store")
    assert sorted(option_values(select)) == sorted(STORES)
    assert select.input_value() == "file"
    for name, description in STORES.items():
        text = select.locator(f'option[value="{name}"]').text_content().strip()
        health = r"healthy|unhealthy(: .+)?|not checked yet"
        assert re.fullmatch(rf"{name} — {description} \(({health})\)", text), text
        assert select.locator(f'option[value="{name}"]').is_enabled()


def test_upload_into_the_store_picked_in_the_dropdown(page, portal, images, tmp_path):
    path = random_file(tmp_path / "disk.raw", 8 * MiB)
    data = path.read_bytes()
    name = f"browser-upload-{uuid.uuid4().hex[:8]}"
    login(page, "root")
    page.goto("/images/upload/")
    page.fill('input[name="name"]', name)
    page.select_option('select[name="disk_format"]', "raw")
    page.select_option('select[name="container_format"]', "bare")
    page.select_option('select[name="visibility"]', "private")
    page.fill('input[name="min_disk"]', "1")
    page.fill('input[name="min_ram"]', "256")
    page.fill('textarea[name="properties"]', "os_distro=cirros\nhw_disk_bus=virtio\n")
    page.select_option("select#store", "cheap")
    page.set_input_files("#file", path)

    puts = []
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" else None)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/v2/images")) as created:
        page.click("#upload-button")
    assert created.value.status == 201
    image_id = images.track(created.value.json()["id"])

    page.wait_for_function("document.querySelector('#upload-progress').value >= 100",
                           timeout=60_000)
    expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
    expect(page.locator("#upload-status")).not_to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#upload-percent")).to_have_text("100 %")
    expect(page.locator("#upload-bytes")).to_have_text("8.0 MiB of 8.0 MiB")
    expect(page.locator("#upload-rate")).to_have_text(RATE)

    [put] = puts
    assert put.url.endswith(f"/v2/images/{image_id}/file")
    assert put.all_headers().get("x-image-meta-store") == "cheap"

    # The bytes are in the store that was picked, and only there.
    assert store_file(portal, "cheap", image_id).read_bytes() == data
    assert not store_file(portal, "file", image_id).exists()
    image = get_image(portal, image_id)
    assert image["status"] == "active"
    assert image["stores"] == "cheap"
    assert (image["name"], image["disk_format"], image["container_format"]) == (name, "raw", "bare")
    assert (image["min_disk"], image["min_ram"], image["visibility"]) == (1, 256, "private")
    assert (image["os_distro"], image["hw_disk_bus"]) == ("cirros", "virtio")
    assert image["protected"] is False

    link = page.locator("#upload-status a#image-link")
    assert link.get_attribute("href").rstrip("/").endswith(f"/images/{image_id}")
    link.click()
    page.wait_for_url(re.compile(rf"/images/{image_id}/$"))
    props = properties_of(page)
    missing = [row for row in SEED_ROWS if row not in props]
    assert not missing, f"rows missing from table#properties: {missing}"
    assert props["id"] == image_id
    assert props["name"] == name
    assert props["status"] == "active"
    assert props["checksum"] == hashlib.md5(data).hexdigest()
    assert props["os_hash_algo"] == "sha512"
    assert props["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert "cheap" in props["stores"]
    # An admin sees where the bytes are.
    rows = page.locator("table#locations tr[data-store]")
    expect(rows).to_have_count(1)
    row = page.locator('table#locations tr[data-store="cheap"]')
    expect(row).to_contain_text(f"images/cheap/{image_id}")
    expect(row).to_contain_text("cheap")
    expect(row).to_contain_text("active")
    expect(page.locator("#tags")).to_have_count(1)
