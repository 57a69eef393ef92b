"""Screenshots of the main pages for docs/screenshots/ (runs after the other browser tests)."""
import os
import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, login, random_file

pytestmark = pytest.mark.live

MiB = 2**20


def qcow2_bytes(tmp_path, size):
    """A qcow2 image holding `size` random bytes (the portal refuses anything else as
    qcow2), made by qemu-img."""
    raw = random_file(tmp_path / "content.raw", size)
    target = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(target)],
                   check=True, capture_output=True)
    return target.read_bytes()


def test_screenshots_of_the_main_pages(page, portal, images, tmp_path):
    shots = SCREENSHOTS or tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    cirros = images("root", name="cirros-0.6.2-x86_64", disk_format="qcow2",
                    visibility="public", data=qcow2_bytes(tmp_path, 3 * MiB), store="file")
    portal.manage("image_copy", cirros["id"], "--store", "cheap")
    images("root", name="debian-12-genericcloud-amd64", disk_format="qcow2",
           visibility="public", data=qcow2_bytes(tmp_path, 6 * MiB), store="swift")
    images("alice", name="ubuntu-24.04-server-cloudimg", disk_format="raw",
           data=os.urandom(4 * MiB), store="s3")
    images("bob", name="fedora-cloud-41", disk_format="qcow2")

    login(page, "root")
    page.screenshot(path=shots / "images.png", full_page=True)

    page.goto("/images/upload/")
    page.fill('input[name="name"]', "alpine-3.20-virt")
    page.select_option('select[name="disk_format"]', "raw")  # the file is random bytes
    page.select_option("select#store", "cheap")
    page.fill('textarea[name="properties"]', "os_distro=alpine\nhw_disk_bus=virtio")
    page.set_input_files("#file", random_file(tmp_path / "alpine.img", 12 * MiB))
    page.click("#upload-button")
    expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
    href = page.locator("a#image-link").get_attribute("href")
    images.track(re.search(r"/images/([^/]+)/", href).group(1))
    page.screenshot(path=shots / "upload.png", full_page=True)

    page.goto(f"/images/{cirros['id']}/")
    expect(page.locator("table#locations tr[data-store]")).to_have_count(2)
    page.screenshot(path=shots / "image-detail.png", full_page=True)

    page.goto("/stores/")
    page.screenshot(path=shots / "stores.png", full_page=True)

    page.set_viewport_size({"width": 420, "height": 800})
    page.goto("/images/")
    page.screenshot(path=shots / "images-narrow.png", full_page=True)

    for name in ("images", "upload", "image-detail", "stores", "images-narrow"):
        assert (shots / f"{name}.png").stat().st_size > 5000
