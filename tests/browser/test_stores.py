"""The stores dashboard: each store with its backend, health, images and bytes, and a chart."""
import os
from itertools import permutations

import pytest

from tests.browser.conftest import api, login

pytestmark = pytest.mark.live

STORES = {"file": ("file", "Local disk"), "cheap": ("file", "Second disk"),
          "swift": ("swift", "Swift"), "s3": ("s3", "S3")}


def usage(portal):
    """{store: (images, bytes)} from what the API tells an admin."""
    response = api(portal, "root").get(portal.url + "/v2/images", params={"limit": 1000})
    assert response.status_code == 200, response.text
    result = {name: [0, 0] for name in STORES}
    for image in response.json()["images"]:
        for store in filter(None, (image.get("stores") or "").split(",")):
            result[store][0] += 1
            result[store][1] += image["size"] or 0
    return result


def cells_of(page, name):
    return [c.strip() for c in page.locator(f'table#stores-table tr[data-store="{name}"]')
            .locator("td, th").all_text_contents()]


def test_stores_page_lists_the_four_stores_with_health_and_a_bar_each(page, portal, images):
    images("alice", name="stores-page", data=os.urandom(2 * 2**20), store="cheap")
    images("alice", name="stores-page-2", data=os.urandom(2**20), store="s3")
    expected = usage(portal)
    login(page, "alice")
    page.goto("/stores/")
    rows = page.locator("table#stores-table tr[data-store]")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.store)")) == sorted(STORES)
    for name, (backend, description) in STORES.items():
        cells = cells_of(page, name)
        assert backend in cells, cells
        assert description in cells, cells
        # Every store runs in this test session (the Swift all-in-one is up).
        assert "ok" in cells, cells
        assert not any(c.startswith("unhealthy") for c in cells), cells
        assert str(expected[name][0]) in cells, (name, expected[name], cells)

    bars = page.locator("svg#bytes-chart rect[data-store]")
    assert sorted(bars.evaluate_all("bars => bars.map(b => b.dataset.store)")) == sorted(STORES)
    area = {}
    for name in STORES:
        box = page.locator(f'svg#bytes-chart rect[data-store="{name}"]').bounding_box()
        area[name] = box["width"] * box["height"] if box else 0
    assert area["cheap"] > 0
    for a, b in permutations(STORES, 2):
        if expected[a][1] > expected[b][1]:
            assert area[a] >= area[b], (a, b, expected, area)
    biggest = max(STORES, key=lambda name: expected[name][1])
    assert area[biggest] == max(area.values())


def test_an_unhealthy_store_says_so_and_stays_selectable_for_upload(page, portal, swift_aio):
    swift_aio.stop("proxy")
    try:
        # The pages show the health beat last kept; stores_info probes now and keeps it.
        portal.manage("stores_info")
        login(page, "alice")
        page.goto("/stores/")
        cells = cells_of(page, "swift")
        assert "unhealthy" in cells, cells       # why is for admins: it names the endpoint
        assert "ok" in cells_of(page, "file")

        page.goto("/images/upload/")
        option = page.locator('select#store option[value="swift"]')
        assert "(unhealthy)" in option.text_content(), option.text_content()
        assert option.is_enabled()
        page.select_option("select#store", "swift")
        assert page.locator("select#store").input_value() == "swift"
    finally:
        swift_aio.start()
        portal.manage("stores_info")
