"""Prometheus metrics, served at /metrics to admins (their token, as X-Auth-Token or
`Authorization: Bearer`, or an admin's session).

Several processes count: gunicorn's workers and the Celery worker's children. A counter
kept in one process's memory would answer for that process only, whichever one a scrape
reaches, so counters and histograms use prometheus_client's multiprocess mode: each process
writes its values to files in PROMETHEUS_MULTIPROC_DIR (portal/settings.py: the data
folder's `metrics`), and a scrape adds them up. What the database or the broker already know
(images and bytes per store, the queue's length) is read from them at scrape time instead,
so it is right whichever process answers and after any restart. The last audit's findings
are a gauge set by the process that ran the audit; a scrape shows the most recent one.
"""
import time

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily
from rest_framework import permissions
from rest_framework.views import APIView

from accounts.authentication import (KeystoneAuthentication, LocalSessionAuthentication,
                                     TokenHeaderAuthentication)

HTTP_REQUESTS = Counter("portal_http_requests", "HTTP requests answered, by view and status",
                        ["method", "view", "status"])
HTTP_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request (to the first byte of the body), by view",
    ["method", "view"],
    # Up to 5 minutes: an upload's answer comes once its last byte is stored.
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
UPLOADED = Counter("portal_store_uploaded_bytes", "Bytes written into a store, by purpose "
                   "(upload, stage, copy, import, ...)", ["store", "purpose"])
DOWNLOADED = Counter("portal_store_downloaded_bytes",
                     "Bytes of image data answered to clients, by the store they come from",
                     ["store"])
REFUSALS = Counter("portal_upload_refusals", "Uploads refused, by HTTP status (413 too large, "
                   "415 not octet-stream, 409 not queued, ...)", ["reason", "view"])
TASKS = Counter("portal_tasks", "Celery tasks run, by name and outcome", ["task", "outcome"])
TASK_DURATION = Histogram(
    "portal_task_duration_seconds", "Time a Celery task ran, by name and outcome",
    ["task", "outcome"],
    # A copy of a 50 GiB image may take hours.
    buckets=(.1, .5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600))
AUDIT_FINDINGS = Gauge("portal_audit_findings",
                       "Findings of the last audit of each store, by kind",
                       ["database", "store", "finding"], multiprocess_mode="mostrecent")

# Requests whose body is image data: a refusal of one of them counts as an upload refusal.
UPLOAD_ROUTES = ("v2/images/<str:image_id>/file", "v2/images/<str:image_id>/stage")


def request_observed(request, response, seconds):
    """Count one answered request, and a refused upload as such."""
    match = getattr(request, "resolver_match", None)
    view = match.route if match is not None else getattr(request, "metrics_view", "unmatched")
    status = str(response.status_code)
    HTTP_REQUESTS.labels(request.method, view, status).inc()
    HTTP_LATENCY.labels(request.method, view).observe(seconds)
    if response.status_code >= 400 and _is_upload(request, view):
        REFUSALS.labels(status, view).inc()


def _is_upload(request, view):
    if request.method == "PUT" and view in UPLOAD_ROUTES:
        return True
    # v1 sends the data with the create (POST) or update (PUT) of the image.
    return (view.startswith("v1/images") and request.method in ("POST", "PUT")
            and request.content_type == "application/octet-stream")


def bytes_uploaded(store, purpose, size):
    UPLOADED.labels(store, str(purpose)).inc(size)


def bytes_downloaded(store, size):
    DOWNLOADED.labels(store or "unknown").inc(size)


def audit_counted(tally, *, database, stores, kinds):
    """Set the findings gauge from an audit's Counter of (store, finding): every kind of every
    audited store, so a kind the last audit no longer found reads 0."""
    for store in stores:
        for kind in kinds:
            AUDIT_FINDINGS.labels(database, store, kind).set(tally.get((store, kind), 0))
    for (store, kind), count in tally.items():
        if store not in stores:  # an object of a store no longer configured
            AUDIT_FINDINGS.labels(database, store, kind).set(count)


def task_started(task, **_):
    task.request.portal_started = time.monotonic()


def task_ended(task, state=None, **_):
    started = getattr(task.request, "portal_started", None)
    outcome = (state or "unknown").lower()
    TASKS.labels(task.name, outcome).inc()
    if started is not None:
        TASK_DURATION.labels(task.name, outcome).observe(time.monotonic() - started)


class StateCollector:
    """Gauges read at scrape time: images and bytes per store, the broker's queue."""

    def collect(self):
        from django.conf import settings

        from images.models import ImageLocation
        from portal.health import broker_status

        images = GaugeMetricFamily("portal_store_images", "Images with data in a store",
                                   labels=["store"])
        size = GaugeMetricFamily("portal_store_bytes",
                                 "Bytes of image data in a store (image sizes)",
                                 labels=["store"])
        for store, (count, total) in _per_store(ImageLocation).items():
            images.add_metric([store], count)
            size.add_metric([store], total)
        yield images
        yield size
        broker = broker_status()
        yield GaugeMetricFamily("portal_broker_up", "1 when the task broker answers",
                                value=1 if broker["ok"] else 0)
        queue = GaugeMetricFamily("portal_task_queue_length",
                                  "Tasks waiting in the broker's queue", labels=["queue"])
        if broker["ok"]:
            queue.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], broker["queued"])
        yield queue


def _per_store(ImageLocation):
    """{store: (images, bytes)} of the live locations.

    Grouped by the meta_data text in the database (one row per distinct text, in practice
    one per store), then by the store it names here: meta_data is JSON kept as TEXT.
    """
    from django.db.models import Count, Sum

    from images.fields import JSONTextField

    rows = (ImageLocation.objects.filter(status=ImageLocation.Status.ACTIVE)
            .values("meta_data")
            .annotate(images=Count("image_id", distinct=True), bytes=Sum("image__size")))
    decode = JSONTextField().from_db_value
    totals = {}
    for row in rows:
        meta = row["meta_data"]
        store = (meta if isinstance(meta, dict) else decode(meta, None, None)).get("store") \
            or "unknown"
        count, size = totals.get(store, (0, 0))
        totals[store] = (count + row["images"], size + (row["bytes"] or 0))
    return totals


class BearerTokenAuthentication(TokenHeaderAuthentication):
    """An API token as `Authorization: Bearer <token>`, what Prometheus sends
    (scrape_config `authorization: {credentials: <token>}`). Also with Keystone: a scraper
    keeps a long-lived local token rather than a Keystone token that expires."""

    with_keystone = True

    def secret(self, request):
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        return value if scheme.lower() == "bearer" and value else None


class MetricsView(APIView):
    """Every metric in Prometheus's text format; admins only."""

    authentication_classes = [KeystoneAuthentication, TokenHeaderAuthentication,
                              BearerTokenAuthentication, LocalSessionAuthentication]
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(exclude=True)  # not part of the Image API
    def get(self, request):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(StateCollector())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
