"""Signing in and out of the portal."""
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORDS, login

pytestmark = pytest.mark.live


def test_sign_in_shows_user_and_project_and_sign_out_ends_the_session(page):
    login(page, "alice")
    expect(page.locator("#current-user")).to_have_text("alice")
    expect(page.locator("#current-project")).to_have_text("alice-project")

    sign_out = page.get_by_role("button", name="Sign out")
    form = page.locator("form", has=sign_out)
    assert form.get_attribute("method").lower() == "post"
    assert urlparse(form.get_attribute("action")).path == "/accounts/logout/"
    assert form.locator('input[name="csrfmiddlewaretoken"]').input_value()
    sign_out.click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    expect(page.locator("#current-user")).to_have_count(0)

    # The session is gone: the images page sends the browser back to sign in.
    page.goto("/images/")
    assert urlparse(page.url).path == "/accounts/login/"


def test_images_page_signed_out_redirects_to_sign_in_and_back(page):
    page.goto("/images/")
    url = urlparse(page.url)
    assert url.path == "/accounts/login/"
    assert parse_qs(url.query).get("next") == ["/images/"]
    page.fill('input[name="username"]', "bob")
    page.fill('input[name="password"]', PASSWORDS["bob"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/images/$"))
    expect(page.locator("#current-user")).to_have_text("bob")


def test_sign_in_with_a_wrong_password_is_refused(page):
    page.goto("/accounts/login/")
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', "not-her-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert urlparse(page.url).path == "/accounts/login/"
    expect(page.locator("#current-user")).to_have_count(0)
    page.goto("/images/")
    assert urlparse(page.url).path == "/accounts/login/"
