"""Quotas through gunicorn and the real clients: `glance usage`, and an upload past a
project's limit refused with 413 while it streams, leaving nothing behind."""
import pytest

from tests.live.clients import (api_session, assert_error, create_image, glance, show_image,
                                stored_files, table_rows)

pytestmark = pytest.mark.live
LIMIT = 2**20

SET_QUOTA = """
from accounts.models import Project, ProjectQuota
ProjectQuota.objects.update_or_create(project=Project.objects.get(name="quota-project"),
                                      defaults={{"image_size_total": {size},
                                                 "image_count_total": {count}}})
"""
DROP_QUOTA = """
from accounts.models import ProjectQuota
ProjectQuota.objects.filter(project__name="quota-project").delete()
"""


@pytest.fixture(scope="module")
def limited(live_portal):
    """A user of a project of its own, limited to 1 MiB of images and 5 images."""
    token = live_portal.token("quota-user", "--project", "quota-project")
    live_portal.manage("shell", "-c", SET_QUOTA.format(size=LIMIT, count=5))
    api = api_session(live_portal, token)
    api.token = token
    yield api
    for image in api.get(api.base + "/v2/images").json()["images"]:
        api.delete(api.base + image["self"])
    live_portal.manage("shell", "-c", DROP_QUOTA)


def chunks(data, size=256 * 1024):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_glance_usage_shows_the_projects_limits_and_usage(limited, live_portal, tmp_path):
    image = create_image(limited, name="counted")
    result = glance(live_portal, limited.token, "usage", home=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row[0]: row[1:] for row in table_rows(result.stdout)[1:]}
    assert rows["image_size_total"] == ["1", "0"]  # MiB, as Glance reports them
    assert rows["image_count_total"] == ["5", "1"]
    assert rows["image_stage_total"] == ["-1", "0"]
    assert rows["image_count_uploading"] == ["-1", "0"]
    limited.delete(limited.base + image["self"])


def test_a_chunked_upload_past_the_quota_is_413_and_leaves_nothing(limited, live_portal):
    image = create_image(limited, name="too-big")
    before = stored_files(live_portal)
    response = limited.put(limited.base + image["file"], data=chunks(b"x" * (LIMIT + 2**19)),
                           headers={"Content-Type": "application/octet-stream"})
    message = assert_error(response, 413)
    assert message.startswith(f"Quota exceeded for image_size_total: the limit is {LIMIT} "
                               "bytes and the project uses 0 bytes")
    shown = show_image(limited, image["id"])
    assert (shown["status"], shown["size"], shown.get("stores")) == ("queued", None, None)
    assert stored_files(live_portal) == before
    # Within the limit, the same image takes its data.
    response = limited.put(limited.base + image["file"], data=chunks(b"y" * LIMIT),
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 204, response.text
    assert show_image(limited, image["id"])["size"] == LIMIT


def test_glance_image_create_past_the_quota_says_why(limited, live_portal, tmp_path):
    path = tmp_path / "big.raw"
    path.write_bytes(b"z" * (LIMIT + 1))
    result = glance(live_portal, limited.token, "image-create", "--name", "cli-big",
                    "--disk-format", "raw", "--container-format", "bare", "--file", path,
                    home=tmp_path)
    assert result.returncode != 0
    assert "Quota exceeded for image_size_total" in result.stderr + result.stdout
    (image,) = [i for i in limited.get(limited.base + "/v2/images").json()["images"]
                if i["name"] == "cli-big"]
    assert image["status"] == "queued"
    assert not any(name == image["id"] for _, name in stored_files(live_portal))
