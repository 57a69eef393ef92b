"""Browser tests: Debian's Chromium driven by Playwright (sync API) against a live portal.

Chromium comes from Debian (scripts/system-packages installs it); Playwright never downloads a
browser here. The portal is the gunicorn + Celery one the live tests use (tests/conftest.py) (stores file, cheap, swift,
s3). Every page records console errors, uncaught exceptions and requests to other hosts (the
portal must work with no internet, so no CDN): a test with any of them fails at teardown.
"""
import contextlib
import os
import re
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.factories import random_data


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium reaches for the (closed) network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
PASSWORDS = {"root": "pw-root-123", "alice": "pw-alice-123", "bob": "pw-bob-123"}
# `make screenshots` refreshes the README's pictures; otherwise they go to a temporary folder,
# so a test run leaves the work tree as it was.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("UPDATE_SCREENSHOTS") else None)

SET_PASSWORDS = """
from django.contrib.auth import get_user_model
for username, password in {passwords!r}.items():
    user = get_user_model().objects.get(username=username)
    user.set_password(password)
    user.save()
"""


def pytest_collection_modifyitems(items):
    """The screenshots come last among the browser tests (the portal has data by then); the
    browser tests stay together, so the browser is gone before any other test runs."""
    here = Path(__file__).parent
    mine = [i for i, item in enumerate(items) if here in item.path.parents]
    if not mine:
        return
    block = [items[i] for i in mine]
    block.sort(key=lambda item: item.path.name == "test_screenshots.py")
    for i, item in zip(mine, block):
        items[i] = item


@contextlib.contextmanager
def chromium():
    """Debian's Chromium under the sync Playwright, stopped on leaving."""
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests. Package-scoped rather than session-scoped: while
    the sync Playwright runs, its asyncio loop counts as running in this thread, and Django
    would refuse ORM calls in the tests that come after (SynchronousOnlyOperation)."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="package")
def portal(live_portal):
    """The live portal with users who can sign in: root (admin), alice (alice-project) and
    bob (bob-project); each has an API token too (`portal.tokens[name]`)."""
    live_portal.tokens = {
        "root": live_portal.token("root", "--admin"),
        "alice": live_portal.token("alice", "--project", "alice-project"),
        "bob": live_portal.token("bob", "--project", "bob-project"),
    }
    live_portal.manage("shell", "-c", SET_PASSWORDS.format(passwords=PASSWORDS))
    return live_portal


class BrowserProblems:
    """What went wrong inside the browser during a test. A test that provokes an HTTP error
    on purpose allows the console line Chromium logs for it with `allow(regex)`."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.problems = []
        self.allowed = []

    def allow(self, pattern):
        self.allowed.append(re.compile(pattern))

    def console(self, message):
        if message.type == "error":
            location = message.location or {}
            where = f"{location.get('url', '?')}:{location.get('lineNumber', '?')}"
            self.problems.append(f"console error: {message.text} (at {where})")

    def page_error(self, error):
        self.problems.append(f"uncaught exception: {error}")

    def request(self, request):
        url = request.url
        if not url.startswith((self.base_url + "/", "data:", "blob:", "about:")):
            self.problems.append(f"request to another host: {request.method} {url}")

    def unexpected(self):
        return [p for p in self.problems if not any(rx.search(p) for rx in self.allowed)]


@pytest.fixture
def browser_problems(portal):
    return BrowserProblems(portal.url)


@pytest.fixture
def page(browser, portal, browser_problems):
    """A fresh context (no cookies) and page at 1280x900 whose base URL is the portal's;
    the test fails at teardown if the browser logged a console error, threw, or asked
    another host for anything."""
    context = browser.new_context(viewport=VIEWPORT, base_url=portal.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", browser_problems.console)
    page.on("pageerror", browser_problems.page_error)
    page.on("request", browser_problems.request)
    yield page
    context.close()
    problems = browser_problems.unexpected()
    if problems:
        pytest.fail("problems in the browser during the test:\n  " + "\n  ".join(problems),
                    pytrace=False)


def login(page, username, password=None):
    """Sign in through the portal's form; the browser lands on /images/."""
    page.goto("/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password or PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/images/$"))


# The API side, to set up images and to check what the browser did.

def api(portal, username):
    session = requests.Session()
    session.headers["X-Auth-Token"] = portal.tokens[username]
    session.headers["Accept"] = "application/json"  # errors as JSON, not webob's HTML page
    session.base = portal.url
    return session


def create_image(portal, username="root", *, data=None, store=None, **fields):
    """An image made through the API (queued without `data`, else active in `store`)."""
    session = api(portal, username)
    body = {"disk_format": "raw", "container_format": "bare", **fields}
    response = session.post(portal.url + "/v2/images", json=body)
    assert response.status_code == 201, response.text
    image = response.json()
    if data is not None:
        headers = {"Content-Type": "application/octet-stream"}
        if store:
            headers["X-Image-Meta-Store"] = store
        response = session.put(portal.url + image["file"], data=data, headers=headers)
        assert response.status_code == 204, response.text
    return image


class Images:
    """Images a test makes (through the API, or `track`ed after the browser made them);
    all are deleted after the test, so the lists stay small and tidy for the screenshots."""

    def __init__(self, portal):
        self.portal = portal
        self.ids = []

    def __call__(self, username="root", **kwargs):
        image = create_image(self.portal, username, **kwargs)
        self.ids.append(image["id"])
        return image

    def track(self, image_id):
        self.ids.append(image_id)
        return image_id

    def cleanup(self):
        session = api(self.portal, "root")
        for image_id in self.ids:
            url = f"{self.portal.url}/v2/images/{image_id}"
            session.patch(url, json=[{"op": "replace", "path": "/protected", "value": False}],
                          headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
            response = session.delete(url)
            assert response.status_code in (204, 404), response.text


@pytest.fixture
def images(portal):
    made = Images(portal)
    yield made
    made.cleanup()


def get_image(portal, image_id, username="root"):
    """The image as the API shows it to `username`, or None if it does not exist."""
    response = api(portal, username).get(f"{portal.url}/v2/images/{image_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def store_file(portal, store, image_id):
    return portal.data_dir / "images" / store / image_id


def objects_named(portal, image_id):
    """Everything in the file stores' folders whose name contains `image_id`."""
    root = portal.data_dir / "images"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if image_id in p.name)


def eventually(check, *, timeout=15, interval=0.2):
    """Poll `check()` until it returns a true value; return that value (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still not true after {timeout} s: {check.__doc__ or check}"
            return value
        time.sleep(interval)


def random_file(path, size, chunk=8 * 2**20):
    """`size` random bytes written to `path` in chunks (never all in memory)."""
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(chunk, left)
            fh.write(random_data(n) if left == size else os.urandom(n))
            left -= n
    return path


def properties_of(page):
    """The image page's `table#properties` as {th text: td text}."""
    return dict(page.locator("table#properties tr").evaluate_all(
        """rows => rows.filter(r => r.querySelector('th') && r.querySelector('td'))
                       .map(r => [r.querySelector('th').textContent.trim(),
                                  r.querySelector('td').textContent.trim()])"""))


def option_values(locator):
    return locator.locator("option").evaluate_all("options => options.map(o => o.value)")


def row_ids(page):
    """The image ids of the rows of `#images-table`, in order."""
    return page.locator("#images-table tr[data-image-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.imageId)")
