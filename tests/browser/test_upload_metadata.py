"""The upload page's Metadata section: the properties of the namespaces associated with
OS::Glance::Image, under that association's prefix, each with an input fitting its type; the
values chosen become the image's properties."""
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import get_image, login, option_values, random_file

pytestmark = pytest.mark.live

DEFINITIONS = Path(__file__).resolve().parents[1] / "data" / "metadefs"
REMOVE = ("from metadefs.models import Namespace; "
          "Namespace.objects.filter(namespace__startswith='OS::Portal::').delete()")


@pytest.fixture
def definitions(portal):
    portal.manage("load_metadefs", str(DEFINITIONS))
    yield
    portal.manage("shell", "-c", REMOVE)


def test_upload_page_offers_image_metadata_with_prefixes_and_sends_the_chosen_values(
        page, portal, images, definitions, tmp_path):
    login(page, "alice")
    page.goto("/images/upload/")
    picker = page.locator("select#metadata-property")
    expect(page.locator("fieldset#metadata")).to_be_visible()
    expect(picker.locator('option[value="os_boot_delay"]')).to_have_count(1)
    offered = set(option_values(picker))
    assert {"hw_watchdog_action", "os_secure_boot", "os_boot_delay", "os_boot_label",
            "os_firmware_type"} <= offered
    # Flavor-only definitions, and the flavor prefix of a shared one, are not for images.
    assert not {"quota:cpu_shares", "hw:watchdog_action", "watchdog_action"} & offered

    def add(key):
        picker.select_option(key)
        page.click("#metadata-add")
        row = page.locator(f'#metadata-chosen .metadata-row[data-property="{key}"]')
        expect(row).to_have_count(1)
        return row

    action = add("hw_watchdog_action").locator("select")
    assert option_values(action) == ["disabled", "reset", "poweroff", "pause", "none"]
    action.select_option("reset")
    secure = add("os_secure_boot").locator('input[type="checkbox"]')
    secure.check()
    delay = add("os_boot_delay").locator('input[type="number"]')
    assert (delay.get_attribute("min"), delay.get_attribute("max")) == ("0", "60")
    delay.fill("5")
    label = add("os_boot_label").locator('input[type="text"]')
    assert label.get_attribute("maxlength") == "40"
    add("os_firmware_type").locator(".metadata-remove").click()
    expect(page.locator('#metadata-chosen [data-property="os_firmware_type"]')).to_have_count(0)
    lines = page.locator("textarea#properties").input_value().split("\n")
    assert {"hw_watchdog_action=reset", "os_secure_boot=true", "os_boot_delay=5"} <= set(lines)
    assert not any(line.startswith(("os_boot_label=", "os_firmware_type=")) for line in lines)

    page.fill('input[name="name"]', f"metadata-{uuid.uuid4().hex[:8]}")
    page.select_option('select[name="disk_format"]', "raw")
    page.set_input_files("#file", random_file(tmp_path / "disk.raw", 2**20))
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/v2/images")) as created:
        page.click("#upload-button")
    assert created.value.status == 201
    image_id = images.track(created.value.json()["id"])
    expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
    image = get_image(portal, image_id)
    assert (image["hw_watchdog_action"], image["os_secure_boot"], image["os_boot_delay"]) == (
        "reset", "true", "5")
    assert "os_boot_label" not in image and "os_firmware_type" not in image


def test_without_image_metadata_definitions_the_section_stays_hidden(page, portal):
    portal.manage("shell", "-c", REMOVE)
    login(page, "alice")
    with page.expect_response(re.compile(r"/v2/metadefs/namespaces\?")) as listed:
        page.goto("/images/upload/")
    assert listed.value.status == 200
    expect(page.locator("fieldset#metadata")).to_be_hidden()
