"""Who sees what: locations are for admins, the admin site is not for users, another
project's private image does not exist for them."""
import os
import uuid
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, row_ids

pytestmark = pytest.mark.live


def test_a_user_sees_no_locations_on_the_image_page(page, portal, images):
    image = images("alice", name=f"alice-{uuid.uuid4().hex[:8]}", data=os.urandom(2**20),
                   store="cheap")
    login(page, "alice")
    page.goto(f"/images/{image['id']}/")
    expect(page.locator("table#properties")).to_be_visible()
    expect(page.locator("#locations")).to_have_count(0)
    # Nor anywhere else in the page: no URI of the store's files.
    html = page.content()
    assert f"images/cheap/{image['id']}" not in html
    assert "file://" not in html


def test_an_admin_sees_the_locations(page, portal, images):
    image = images("alice", name=f"alice-{uuid.uuid4().hex[:8]}", data=os.urandom(2**20),
                   store="cheap")
    login(page, "root")
    page.goto(f"/images/{image['id']}/")
    expect(page.locator('table#locations tr[data-store="cheap"]')).to_have_count(1)


def test_a_user_cannot_use_the_admin_site(page, browser_problems):
    # If alice is sent to Django's admin sign-in page: it declares no icon.
    browser_problems.allow(r"status of 404 .*/favicon\.ico")
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 40[34]")
    login(page, "alice")
    response = page.goto("/admin/")
    path = urlparse(page.url).path
    assert response.status in (403, 404) or \
        path.startswith(("/admin/login/", "/accounts/login/")), (response.status, page.url)
    assert "Site administration" not in page.content()
    response = page.goto("/admin/images/")
    assert response.status in (403, 404) or urlparse(page.url).path.startswith(
        ("/admin/login/", "/accounts/login/")), (response.status, page.url)


def test_another_projects_private_image_is_404_for_a_user(page, portal, images,
                                                          browser_problems):
    browser_problems.allow(r"Failed to load resource: the server responded with a status of 404")
    secret = f"bob-secret-{uuid.uuid4().hex[:8]}"
    image = images("bob", name=secret, visibility="private", data=os.urandom(2**20),
                   store="file")
    login(page, "alice")
    response = page.goto(f"/images/{image['id']}/")
    assert response.status == 404
    assert secret not in page.content()
    page.goto(f"/images/?q={image['id']}")
    assert image["id"] not in row_ids(page)
    assert secret not in page.content()


def test_every_form_that_posts_carries_a_csrf_token(page, portal, images):
    image = images("root", name=f"forms-{uuid.uuid4().hex[:8]}", data=os.urandom(2**16),
                   store="file")
    login(page, "root")
    for url in ("/images/", "/images/upload/", f"/images/{image['id']}/", "/stores/"):
        page.goto(url)
        forms = page.locator("form").evaluate_all("""forms => forms.map(f => ({
            id: f.id, action: f.getAttribute('action'), method: f.getAttribute('method'),
            token: (f.querySelector('input[name=csrfmiddlewaretoken]') || {}).value || ''}))""")
        assert forms, url
        for form in forms:
            # Search forms (explicitly method="get") carry no token: it would land in the URL.
            if (form["method"] or "").lower() == "get":
                continue
            assert len(form["token"]) >= 32, (url, form)
