"""Celery tasks: they take ids, load the rows and call the services."""
from celery import shared_task

from images import services
from images.exceptions import StoreFailed
from images.selectors import image_get


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=30)
def location_copy_task(self, image_id, store_name):
    """Copy an image into `store_name`; a store that fails is retried, then reported."""
    try:
        location = services.location_copy(image=image_get(image_id), store_name=store_name)
    except StoreFailed as exc:
        raise self.retry(exc=exc)
    return location.id


@shared_task(acks_late=True)
def image_import_task(task_id):
    """Run an import (glance-direct, web-download or copy-image) recorded as a Task row."""
    from images import urlfetch
    from images.services.imports import image_import_run, task_get

    policy = urlfetch.FetchPolicy.from_settings()
    return image_import_run(task=task_get(task_id),
                            fetch=lambda url: urlfetch.open_url(url, policy))
