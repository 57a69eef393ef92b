"""The pages at a phone's width."""
import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.live


def test_images_page_has_no_horizontal_page_scroll_at_420px(page, images):
    images("alice", name="a-rather-long-image-name-ubuntu-24.04-server-cloudimg-amd64-disk-kvm",
           data=b"x" * 4096, store="cheap")
    page.set_viewport_size({"width": 420, "height": 800})
    login(page, "alice")
    assert page.locator("#images-table tr[data-image-id]").count() >= 1
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth,"
                           " inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], widths
