"""The images list: filters, sorting by a column header, pages of 50."""
import os
import re
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import api, login, row_ids

pytestmark = pytest.mark.live


def query(page):
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def badges(page, image_id):
    return page.locator(f'#images-table tr[data-image-id="{image_id}"] span.store-badge') \
        .all_text_contents()


def test_images_list_filters_by_store(page, images):
    tag = uuid.uuid4().hex[:8]
    in_cheap = images("alice", name=f"list-{tag}-cheap", data=os.urandom(2**20), store="cheap")
    in_file = images("alice", name=f"list-{tag}-file", data=os.urandom(2**20), store="file")
    login(page, "alice")
    ids = row_ids(page)
    assert in_cheap["id"] in ids and in_file["id"] in ids
    assert [b.strip() for b in badges(page, in_cheap["id"])] == ["cheap"]
    assert [b.strip() for b in badges(page, in_file["id"])] == ["file"]

    page.select_option('select[name="store"]', "cheap")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"store=cheap"))
    ids = row_ids(page)
    assert in_cheap["id"] in ids
    assert in_file["id"] not in ids
    for image_id in ids:
        assert "cheap" in [b.strip() for b in badges(page, image_id)]
    # The filter form shows what it filters by.
    assert page.locator('select[name="store"]').input_value() == "cheap"


def test_images_list_filters_by_name_and_by_id(page, images):
    tag = uuid.uuid4().hex[:8]
    wanted = images("alice", name=f"needle-{tag}")
    other = images("alice", name=f"hay-{tag}")
    login(page, "alice")
    page.fill('input[name="q"]', f"needle-{tag}")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"q=needle"))
    assert row_ids(page) == [wanted["id"]]
    expect(page.locator(f'#images-table tr[data-image-id="{wanted["id"]}"]')) \
        .to_contain_text(f"needle-{tag}")

    page.fill('input[name="q"]', other["id"])
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(rf"q={other['id']}"))
    assert row_ids(page) == [other["id"]]


def test_images_list_filters_by_status_visibility_and_format(page, images, disk_images):
    tag = uuid.uuid4().hex[:8]
    active_qcow2 = images("alice", name=f"fmt-{tag}-a", disk_format="qcow2", visibility="private",
                          data=disk_images["qcow2"].read_bytes(), store="file")
    queued_raw = images("alice", name=f"fmt-{tag}-b", disk_format="raw", visibility="shared")
    login(page, "alice")
    page.goto("/images/?status=queued")
    ids = row_ids(page)
    assert queued_raw["id"] in ids and active_qcow2["id"] not in ids
    page.goto("/images/?disk_format=qcow2")
    ids = row_ids(page)
    assert active_qcow2["id"] in ids and queued_raw["id"] not in ids
    page.goto("/images/?visibility=shared")
    ids = row_ids(page)
    assert queued_raw["id"] in ids and active_qcow2["id"] not in ids


def test_images_list_sorts_by_name_from_the_column_header(page, portal, images):
    for suffix in ("b", "a", "c"):
        images("bob", name=f"sort-{uuid.uuid4().hex[:6]}-{suffix}")
    names = {i["id"]: i["name"] for i in
             api(portal, "bob").get(portal.url + "/v2/images?limit=1000").json()["images"]}
    login(page, "bob")
    page.locator('#images-table thead a[href*="sort=name"]').first.click()
    page.wait_for_url(re.compile(r"sort=name"))
    assert query(page).get("dir", "asc") == "asc"
    shown = [names[i] for i in row_ids(page)]
    assert len(shown) >= 3
    assert shown == sorted(shown)

    page.goto("/images/?sort=name&dir=desc")
    shown = [names[i] for i in row_ids(page)]
    assert shown == sorted(shown, reverse=True)


def test_images_list_pages_by_fifty(page, images):
    name = f"paged-{uuid.uuid4().hex[:8]}"
    made = {images("alice", name=name)["id"] for _ in range(51)}
    login(page, "alice")
    page.fill('input[name="q"]', name)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"q=paged"))
    first = row_ids(page)
    assert len(first) == 50
    expect(page.locator('a[rel="prev"]')).to_have_count(0)
    page.locator('a[rel="next"]').click()
    page.wait_for_load_state()
    second = row_ids(page)
    assert len(second) == 1
    assert set(first) | set(second) == made
    expect(page.locator('a[rel="next"]')).to_have_count(0)
    assert query(page).get("q") == name     # the filter is kept across pages
    page.locator('a[rel="prev"]').click()
    page.wait_for_load_state()
    assert row_ids(page) == first
