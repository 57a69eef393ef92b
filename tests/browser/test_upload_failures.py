"""Uploads that do not end well: the store is down, or the user cancels half-way."""
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (api, eventually, get_image, login, objects_named,
                                    random_file)

pytestmark = [pytest.mark.live, pytest.mark.swift]

MiB = 2**20


def images_named(portal, name):
    response = api(portal, "root").get(portal.url + "/v2/images", params={"name": name})
    assert response.status_code == 200, response.text
    return response.json()["images"]


def test_upload_to_a_store_that_is_down_shows_the_error_and_leaves_no_saving_image(
        page, portal, images, swift_aio, browser_problems, tmp_path):
    # The failed PUT is an HTTP error answer, which Chromium logs to the console.
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 5\d\d")
    path = random_file(tmp_path / "disk.raw", 3 * MiB)
    name = f"browser-down-{uuid.uuid4().hex[:8]}"
    login(page, "root")
    swift_aio.stop("object")
    try:
        page.goto("/images/upload/")
        page.fill('input[name="name"]', name)
        page.select_option('select[name="disk_format"]', "raw")  # the file is random bytes
        # Still offered (its health may say so), still selectable.
        page.select_option("select#store", "swift")
        page.set_input_files("#file", path)
        page.click("#upload-button")
        status = page.locator("#upload-status.error")
        expect(status).to_be_visible(timeout=60_000)
        expect(status).to_contain_text("swift")
        expect(page.locator("#upload-status")).not_to_contain_text("Uploaded")
        made = images_named(portal, name)
        for image in made:
            images.track(image["id"])
        assert len(made) <= 1
        eventually(lambda: all(i["status"] != "saving" for i in images_named(portal, name)),
                   timeout=5)
    finally:
        swift_aio.start()


def test_cancel_mid_upload_removes_the_image_and_its_partial_data(
        page, portal, images, tmp_path):
    path = random_file(tmp_path / "big.raw", 200 * MiB)
    login(page, "root")
    page.goto("/images/upload/")
    page.fill('input[name="name"]', f"browser-cancel-{uuid.uuid4().hex[:8]}")
    page.select_option('select[name="disk_format"]', "raw")  # the file is random bytes
    page.set_input_files("#file", path)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/v2/images")) as created:
        page.click("#upload-button")
    image_id = images.track(created.value.json()["id"])
    page.wait_for_function("document.querySelector('#upload-progress').value > 0")
    page.click("#cancel-upload")
    expect(page.locator("#upload-status")).to_contain_text("Cancelled")
    expect(page.locator("#upload-status")).not_to_contain_text("Uploaded")
    assert page.locator("#upload-progress").evaluate("p => p.value") < 100

    eventually(lambda: get_image(portal, image_id) is None)
    eventually(lambda: objects_named(portal, image_id) == [])
