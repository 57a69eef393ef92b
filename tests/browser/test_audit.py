"""The Audit page: an audit started from the page reports an object nobody wrote through the
portal as foreign, with no delete button; it is removed only from the page that confirms its
location and size."""
import os
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

pytestmark = pytest.mark.live


def foreign_row(page, name, timeout=60):
    """The foreign-object row naming `name`, once the worker's audit has recorded it."""
    row = page.locator("table#audit-foreign tr", has_text=name)
    deadline = time.monotonic() + timeout
    while row.count() == 0:
        assert time.monotonic() < deadline, "the audit did not report the object"
        time.sleep(1)
        page.reload()
    return row


def test_a_foreign_object_has_no_delete_button_and_goes_only_once_confirmed(page, portal):
    name = f"stray-{uuid.uuid4().hex[:8]}"
    stray = portal.data_dir / "images" / "cheap" / name
    data = os.urandom(3000)
    stray.write_bytes(data)
    login(page, "root")
    page.goto("/audit/")
    page.select_option('#audit-start select[name="store"]', "cheap")
    page.locator("#audit-start").get_by_role("button").click()
    expect(page.locator(".messages")).to_contain_text("audit of the portal's database")

    row = foreign_row(page, name)
    expect(row.locator("form, button, input")).to_have_count(0)
    expect(page.locator("form", has_text=name)).to_have_count(0)
    row.get_by_role("link", name="Review…").click()

    expect(page.locator("#foreign-warning")).to_contain_text("The portal did not write")
    expect(page.locator("#foreign-location")).to_contain_text(name)
    expect(page.locator("#foreign-size")).to_contain_text("3000 bytes (2.9 KiB)")
    assert stray.read_bytes() == data                 # nothing happens before the click
    page.locator("#foreign-remove").get_by_role("button").click()
    expect(page.locator(".messages")).to_contain_text("Removed the foreign object")
    assert not stray.exists()
