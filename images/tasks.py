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
    from stores import urlfetch
    from images.services.imports import image_import_run, task_get

    policy = urlfetch.FetchPolicy.from_settings()
    return image_import_run(task=task_get(task_id),
                            fetch=lambda url: urlfetch.open_url(url, policy))


@shared_task(acks_late=True)
def audit_location_task(location_id, deep=False):
    """Audit one location and record the finding; returns the finding's name."""
    from images.models import ImageLocation
    from images.services.audit import findings_record, location_audit

    location = ImageLocation.objects.select_related("image").get(pk=location_id)
    finding = location_audit(location, image=location.image, deep=deep)
    findings_record([finding], deep=deep)
    return finding.finding


@shared_task(acks_late=True)
def audit_image_task(image_id, deep=False):
    """Audit every location of one image; returns {finding: count}."""
    from images.services.audit import image_audit

    return _counts(image_audit(image=image_get(image_id), deep=deep))


@shared_task(acks_late=True)
def audit_store_task(store_name, deep=False, database="default"):
    """Audit the locations that `database` (an alias: "default", or "glance" for an existing
    Glance database) has in one store, and the store's unreferenced objects; returns
    {finding: count}. The findings are recorded in the portal's own database."""
    from images.services.audit import audit_run

    _check_database(database)
    return _tallied(lambda tally: audit_run(store_name=store_name, deep=deep, using=database,
                                            keep=lambda finding: False, tally=tally))


@shared_task(acks_late=True)
def audit_all_task(deep=False, database="default"):
    """Audit every location of `database` and every store; returns {finding: count}."""
    from images.services.audit import audit_run

    _check_database(database)
    return _tallied(lambda tally: audit_run(deep=deep, using=database,
                                            keep=lambda finding: False, tally=tally))


def _check_database(database):
    """ValueError unless `database` is a configured alias (a queued task may name a Glance
    database that a restart has since unconfigured)."""
    from django.conf import settings

    if database not in settings.DATABASES:
        raise ValueError(f"No database '{database}' is configured; "
                         f"known: {', '.join(settings.DATABASES)}")


def _tallied(run):
    """{finding: count} of an audit that keeps no finding in memory (they are recorded)."""
    from collections import Counter

    tally = Counter()
    run(tally)
    counts = Counter()
    for (_, finding), count in tally.items():
        counts[finding] += count
    return dict(counts)


def _counts(findings):
    counts = {}
    for finding in findings:
        counts[str(finding.finding)] = counts.get(str(finding.finding), 0) + 1
    return counts


@shared_task(acks_late=True)
def stores_health_task():
    """Probe every store and keep each Health for the pages (beat, every STORE_HEALTH_TTL / 2
    seconds); returns {store: healthy}."""
    return {store.name: health.ok for store, health in services.stores_health(fresh=True)}


@shared_task(acks_late=True)
def scrub_task(leftovers=False):
    """One scrubber run; with `leftovers`, every store is listed too, so beat runs that part
    nightly and the rest every 300 s (Glance's wakeup_time). Returns counts."""
    from images.services.scrubber import scrub_run

    return scrub_run(leftovers=leftovers).counts()
