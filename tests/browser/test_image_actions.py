"""What the image page does: copy to another store, remove a store's copy, download,
deactivate/reactivate and delete (with the protected-image refusal)."""
import os
import re
import uuid
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (eventually, get_image, login, option_values, properties_of,
                                    store_file)

pytestmark = pytest.mark.live

MiB = 2**20

# Records, in sessionStorage (it survives the page's own reloads), whether an element was
# ever visible: the copy may be done a moment after the page first shows it.
SEEN_VISIBLE = """
(() => {
  const selector = "#copy-progress";
  function look() {
    const el = document.querySelector(selector);
    if (el && el.checkVisibility()) sessionStorage.setItem("seen:" + selector, "1");
  }
  document.addEventListener("DOMContentLoaded", () => {
    look();
    new MutationObserver(look).observe(document.documentElement,
        {subtree: true, childList: true, attributes: true});
  });
})();
"""


def name():
    return f"browser-{uuid.uuid4().hex[:8]}"


def test_copy_to_another_store_shows_progress_then_the_new_location(page, portal, images):
    data = os.urandom(48 * MiB + 5)
    image = images("root", name=name(), data=data, store="cheap")
    page.add_init_script(SEEN_VISIBLE)
    login(page, "root")
    page.goto(f"/images/{image['id']}/")
    expect(page.locator('table#locations tr[data-store="cheap"]')).to_have_count(1)

    form = page.locator("form#copy-form")
    assert form.locator('input[name="csrfmiddlewaretoken"]').input_value()
    choices = [v for v in option_values(form.locator('select[name="store"]')) if v]
    assert sorted(choices) == ["file", "s3", "swift"]   # not cheap: it has the image
    form.locator('select[name="store"]').select_option("file")
    form.get_by_role("button", name="Copy").click()

    # The page polls and reloads by itself until the copy is recorded.
    expect(page.locator('table#locations tr[data-store="file"]')).to_have_count(1, timeout=60_000)
    assert page.evaluate("sessionStorage.getItem('seen:#copy-progress')") == "1", \
        "#copy-progress was never visible while the copy ran"
    expect(page.locator("#copy-progress")).to_be_hidden()
    expect(page.locator('table#locations tr[data-store="cheap"]')).to_have_count(1)
    assert store_file(portal, "file", image["id"]).read_bytes() == data
    assert sorted(get_image(portal, image["id"])["stores"].split(",")) == ["cheap", "file"]
    # The store that now has it is no longer offered.
    assert "file" not in option_values(page.locator('form#copy-form select[name="store"]'))


def test_remove_a_store_copy_after_confirming(page, portal, images):
    data = os.urandom(2 * MiB + 3)
    image = images("root", name=name(), data=data, store="cheap")
    portal.manage("image_copy", image["id"], "--store", "file")
    login(page, "root")
    page.goto(f"/images/{image['id']}/")
    cheap_row = page.locator('table#locations tr[data-store="cheap"]')
    expect(cheap_row).to_have_count(1)
    expect(page.locator('table#locations tr[data-store="file"]')).to_have_count(1)

    # Dismissing the confirmation keeps the copy.
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    page.click('button[data-remove-store="cheap"]')
    assert dialogs == ["confirm"]
    page.wait_for_timeout(300)
    expect(cheap_row).to_have_count(1)
    assert store_file(portal, "cheap", image["id"]).exists()

    page.once("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    page.click('button[data-remove-store="cheap"]')
    assert dialogs == ["confirm", "confirm"]
    expect(cheap_row).to_have_count(0, timeout=30_000)
    expect(page.locator('table#locations tr[data-store="file"]')).to_have_count(1)
    eventually(lambda: not store_file(portal, "cheap", image["id"]).exists())
    assert store_file(portal, "file", image["id"]).read_bytes() == data
    assert get_image(portal, image["id"])["stores"] == "file"


def test_download_link_gives_the_image_bytes(page, portal, images):
    data = os.urandom(5 * MiB + 123)
    image = images("alice", name=name(), data=data, store="cheap")
    login(page, "alice")
    page.goto(f"/images/{image['id']}/")
    link = page.locator("a#download")
    assert urlparse(link.get_attribute("href")).path == f"/v2/images/{image['id']}/file"
    with page.expect_download() as download:
        link.click()
    assert open(download.value.path(), "rb").read() == data


def test_deactivate_then_reactivate(page, portal, images):
    image = images("alice", name=name(), data=os.urandom(MiB), store="file")
    login(page, "alice")
    page.goto(f"/images/{image['id']}/")
    expect(page.locator("button#reactivate")).to_have_count(0)
    page.click("button#deactivate")
    expect(page.locator("button#reactivate")).to_be_visible()
    assert properties_of(page)["status"] == "deactivated"
    assert get_image(portal, image["id"])["status"] == "deactivated"

    page.click("button#reactivate")
    expect(page.locator("button#deactivate")).to_be_visible()
    assert properties_of(page)["status"] == "active"
    assert get_image(portal, image["id"])["status"] == "active"


def test_delete_after_confirming_lands_on_the_images_list(page, portal, images):
    image = images("alice", name=name(), data=os.urandom(MiB), store="cheap")
    login(page, "alice")
    page.goto(f"/images/{image['id']}/")
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    page.click("button#delete-image")
    page.wait_for_url(re.compile(r"/images/(\?.*)?$"))
    assert dialogs == ["confirm"]
    expect(page.locator(f'#images-table tr[data-image-id="{image["id"]}"]')).to_have_count(0)
    assert get_image(portal, image["id"]) is None
    eventually(lambda: not store_file(portal, "cheap", image["id"]).exists())


def test_deleting_a_protected_image_shows_an_error_and_keeps_it(page, portal, images):
    image = images("alice", name=name(), data=os.urandom(MiB), store="cheap", protected=True)
    login(page, "alice")
    page.goto(f"/images/{image['id']}/")
    page.once("dialog", lambda d: d.accept())
    page.click("button#delete-image")
    expect(page.locator(".messages .error")).to_be_visible()
    expect(page.locator(".messages .error")).to_contain_text(re.compile("protected", re.I))
    assert get_image(portal, image["id"])["status"] == "active"
    assert store_file(portal, "cheap", image["id"]).exists()
