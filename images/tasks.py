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
