"""/healthcheck, answered as Glance's oslo.middleware healthcheck answers it.

GET: 200 `OK`, or 503 with the reason when the database does not answer (a web process
without its database serves nothing but errors, so a load balancer should skip it). HEAD:
204 or 503 without a body. `Accept: application/json` gives oslo's JSON, and an admin's
token the detailed form: the database, the broker, and each store's health as last probed
(stores/health.py: kept STORE_HEALTH_TTL seconds, so checks do not probe the stores each
time). The broker and the stores are reported, not judged: a web process still serves what
needs neither.

A middleware answers it, ahead of Django's Host check (CommonMiddleware): a load balancer or
a Kubernetes probe names the node by its address, which ALLOWED_HOSTS rarely lists.
"""
from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils.cache import add_never_cache_headers

PATH = "/healthcheck"

# Seconds the broker may take to answer a health check or a scrape.
BROKER_TIMEOUT = 2


def database_status():
    """{"ok": bool, "reason": str}: one query on a working connection."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # A broken connection is not kept for the next request: it reconnects instead.
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "reason": f"database unavailable: {exc}".strip()}
    return {"ok": True, "reason": "OK"}


def broker_status():
    """{"ok": bool, "queued": tasks waiting in the portal's queue, "reason": str}."""
    from django.conf import settings

    from portal.celery import app

    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
            try:
                _, queued, _ = conn.default_channel.queue_declare(
                    settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
            except conn.channel_errors:
                queued = 0  # no queue yet: nothing was ever sent to it
    except Exception as exc:  # any transport's connection error
        return {"ok": False, "queued": None, "reason": f"broker unavailable: {exc}"}
    return {"ok": True, "queued": queued, "reason": "OK"}


def _is_admin(request):
    """True for an admin's token; never raises (a health check answers)."""
    from accounts.authentication import TokenHeaderAuthentication

    try:
        found = TokenHeaderAuthentication().authenticate(request)
    except Exception:
        return False
    return bool(found and found[0].is_superuser)


def _details():
    from images.services.data import stores_health

    stores = {}
    for store, health in stores_health():
        stores[store.name] = ({"ok": health.ok, "reason": health.reason} if health is not None
                              else {"ok": None, "reason": "being checked"})
    return {"broker": broker_status(), "stores": stores}


class HealthcheckMiddleware:
    """Answers /healthcheck; every other request goes on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != PATH:
            return self.get_response(request)
        request.metrics_view = PATH.lstrip("/")
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = healthcheck(request)
        add_never_cache_headers(response)
        return response


def healthcheck(request):
    database = database_status()
    status = 200 if database["ok"] else 503
    if request.method == "HEAD":
        return HttpResponse(status=204 if database["ok"] else 503)
    if "application/json" not in request.headers.get("Accept", ""):
        return HttpResponse(database["reason"], status=status, content_type="text/plain")
    if database["ok"] and _is_admin(request):
        return JsonResponse({"detailed": True, "reasons": [database["reason"]],
                             "database": database, **_details()}, status=status)
    return JsonResponse({"detailed": False, "reasons": [database["reason"]]}, status=status)
