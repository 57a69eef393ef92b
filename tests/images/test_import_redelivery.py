"""An import task handed out again by the broker (its worker was killed before acknowledging
it): what the second run does."""
import pytest

from images.models import ImageLocation, Task
from images.selectors import Caller
from images.services.imports import image_import, image_import_run, task_get
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


def copy_task(image, *stores):
    return image_import(image=image, body={"method": {"name": "copy-image"},
                                           "stores": list(stores)},
                        caller=Caller(project=factories.PROJECT, admin=True))


def stores_of(image):
    return sorted(loc.store for loc in ImageLocation.objects.filter(image=image,
                                                                    status="active"))


def test_a_finished_copy_run_again_copies_nothing_more(file_stores):
    image, _ = factories.active_image()
    task = copy_task(image, "cheap")
    assert image_import_run(task=task_get(task.id))
    before = list(ImageLocation.objects.filter(image=image).values_list("pk", flat=True))

    assert image_import_run(task=task_get(task.id))

    assert list(ImageLocation.objects.filter(image=image).values_list("pk", flat=True)) == before
    assert stores_of(image) == ["cheap", "fast"]
    assert task_get(task.id).status == Task.Status.SUCCESS


def test_a_copy_killed_after_recording_a_store_does_not_record_it_twice(file_stores):
    image, data = factories.active_image()
    task = copy_task(image, "cheap")
    image_import_run(task=task_get(task.id))
    # As the worker left it when killed after the location was written: still processing.
    Task.objects.filter(pk=task.pk).update(status=Task.Status.PROCESSING)

    assert image_import_run(task=task_get(task.id))

    assert stores_of(image) == ["cheap", "fast"]
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    assert task_get(task.id).status == Task.Status.SUCCESS
