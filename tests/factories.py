"""Builders for test data."""
import io
import os

from images import services

PROJECT = "acc0ffee000000000000000000000001"
OTHER_PROJECT = "b0b0b0b0000000000000000000000002"


def random_data(size):
    """`size` random bytes that are not taken for a disk with a broken MBR: random data
    ending its first sector in the boot record's mark 0x55AA (once in 65536) is refused as
    such, as Glance refuses it."""
    data = os.urandom(size)
    while data[510:512] == b"\x55\xaa":
        data = os.urandom(size)
    return data


def image(**fields):
    fields.setdefault("owner", PROJECT)
    fields.setdefault("name", "test-image")
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    return services.image_create(**fields)


def active_image(data=None, *, store_name=None, **fields):
    """An image with data uploaded; returns (image, data)."""
    data = random_data(256 * 1024 + 3) if data is None else data
    img = image(**fields)
    services.image_upload(image=img, stream=io.BytesIO(data), store_name=store_name,
                          expected_size=len(data))
    return img, data


def journaled(store_name, key, *, image_id=None, seconds_ago=3 * 3600, purpose="upload"):
    """A write journal row, open, as a process killed mid-write leaves it: the proof that the
    object `key` in `store_name` is the portal's own."""
    from datetime import timedelta

    from django.utils import timezone

    from images.models import StoreWrite

    return StoreWrite.objects.create(
        store=store_name, key=key, image_id=image_id or key.removeprefix("staging-"),
        purpose=purpose, started_at=timezone.now() - timedelta(seconds=seconds_ago))


def api_client(username, *, admin=False):
    """A Django test client sending the token of `username` (made, with a project of its own,
    if missing) and asking for JSON, as openstacksdk does; `.project` is that project's id."""
    from django.test import Client

    from accounts.services import token_create, user_ensure

    user = user_ensure(username=username, project_name=f"{username}-project", admin=admin)
    client = Client(HTTP_X_AUTH_TOKEN=token_create(user=user), HTTP_ACCEPT="application/json")
    client.project = user.membership.project_id
    return client
