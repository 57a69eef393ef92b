"""The browser infrastructure itself: Debian's Chromium reaches the live portal."""
import pytest

pytestmark = pytest.mark.live


def test_chromium_opens_the_admin_sign_in_page(page, browser_problems):
    # Django's admin declares no icon, so Chromium's own /favicon.ico request is a 404 here.
    browser_problems.allow(r"status of 404 .*/favicon\.ico")
    response = page.goto("/admin/login/")
    assert response.status == 200
    assert page.locator('input[name="username"]').is_visible()
    assert page.locator('input[name="password"]').is_visible()
    assert page.locator('input[name="csrfmiddlewaretoken"]').count() == 1
