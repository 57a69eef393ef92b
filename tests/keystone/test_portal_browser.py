"""Debian's Chromium signs in to a live portal (gunicorn, its own SQLite) configured with a
[keystone_authtoken] table, uploads from the upload page, switches project in the header and
uploads again: each image belongs to the project current when it was made."""
import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT, BrowserProblems, chromium

pytestmark = [pytest.mark.keystone, pytest.mark.live]


@pytest.fixture(scope="module")
def browser():
    # Module-scoped: while the sync Playwright runs, Django refuses ORM calls in this thread.
    with chromium() as browser:
        yield browser


def upload(page, name, path):
    """Fill the upload page and send the file; returns the created image (the API's JSON)."""
    page.goto("/images/upload/")
    page.fill('input[name="name"]', name)
    page.select_option('select[name="disk_format"]', "raw")
    page.set_input_files("#file", path)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/v2/images")) as created:
        page.click("#upload-button")
    assert created.value.status == 201, created.value.text()
    expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
    return created.value.json()


def test_chromium_signs_in_through_keystone_and_switches_project(
        browser, keystone_portal, keystone, demo_in_alt_demo, tmp_path):
    demo = keystone.project_id("demo", "demo")
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(256 * 1024))
    problems = BrowserProblems(keystone_portal.url)
    context = browser.new_context(viewport=VIEWPORT, base_url=keystone_portal.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", problems.console)
    page.on("pageerror", problems.page_error)
    page.on("request", problems.request)
    try:
        page.goto("/accounts/login/")
        expect(page.locator('input[name="domain"]')).to_have_value("Default")
        page.fill('input[name="username"]', "demo")
        page.fill('input[name="password"]', "wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text(
            "Your user name and password did not match.")

        page.fill('input[name="username"]', "demo")
        page.fill('input[name="password"]', keystone.password_of("demo"))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/images/$"))
        expect(page.locator("#current-user")).to_have_text("demo@Default")
        # The first project by name; no token in the page or in a cookie.
        expect(page.locator("#current-project")).to_have_text("alt_demo")
        cookies = {c["name"] for c in context.cookies()}
        assert cookies <= {"sessionid", "csrftoken", "recent_project"}
        assert upload(page, "made-in-alt-demo", disk)["owner"] == demo_in_alt_demo

        # The switch comes back to the page it was made on.
        page.select_option("#id_project", demo)
        page.get_by_role("button", name="Switch project").click()
        page.wait_for_url(re.compile(r"/images/upload/$"))
        expect(page.get_by_role("status").first).to_have_text(
            "Now working in project demo.")
        expect(page.locator("#current-project")).to_have_text("demo")
        assert upload(page, "made-in-demo", disk)["owner"] == demo
        page.goto("/images/")
        expect(page.get_by_role("link", name="made-in-demo")).to_have_count(1)
        expect(page.get_by_role("link", name="made-in-alt-demo")).to_have_count(0)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/accounts/login/"))
        page.goto("/images/")
        page.wait_for_url(re.compile(r"/accounts/login/"))
    finally:
        context.close()
    assert not problems.unexpected(), problems.unexpected()
