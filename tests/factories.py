"""Builders for test data."""
import io
import os

from images import services

PROJECT = "acc0ffee000000000000000000000001"
OTHER_PROJECT = "b0b0b0b0000000000000000000000002"


def image(**fields):
    fields.setdefault("owner", PROJECT)
    fields.setdefault("name", "test-image")
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    return services.image_create(**fields)


def active_image(data=None, *, store_name=None, **fields):
    """An image with data uploaded; returns (image, data)."""
    data = os.urandom(256 * 1024 + 3) if data is None else data
    img = image(**fields)
    services.image_upload(image=img, stream=io.BytesIO(data), store_name=store_name,
                          expected_size=len(data))
    return img, data
