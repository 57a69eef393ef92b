"""The Audit page: what the last audits of each database found, and the actions on a finding
(staff only)."""
from collections import Counter
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from images.exceptions import ImageError
from images.models import AuditFinding, ImageLocation
from images.selectors import Caller, reference_aliases
from images.services import repair
from images.services.audit import findings_last
from images.tasks import audit_all_task, audit_store_task, image_import_task
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreError
from stores.registry import all_stores, get_store

Finding = AuditFinding.Finding
# Unreferenced objects are reported by the audits of the past week; each is checked again
# before it is removed.
ORPHAN_WINDOW = timedelta(days=7)
UNREFERENCED = (Finding.LEFTOVER, Finding.FOREIGN, Finding.ORPHAN)
# The databases whose records an audit checks (selectors.reference_aliases), as the switch
# names them. Every finding is stored in the portal's own database, with its alias.
DATABASE_LABELS = {"default": "Portal database", "glance": "Glance database"}
# The same, within a sentence ("the audit of the portal's database").
DATABASE_PHRASES = {"default": "portal's database", "glance": "Glance database"}


def _selected(value):
    return value if value in reference_aliases() else "default"


def _audit_url(database):
    url = reverse("images:audit")
    return url if database == "default" else f"{url}?{urlencode({'db': database})}"


def _unreferenced(database):
    """The newest leftover, foreign or (legacy) orphan finding of each object that an audit
    of `database` reported in the last ORPHAN_WINDOW."""
    newest = {}
    rows = AuditFinding.objects.filter(database=database, finding__in=UNREFERENCED,
                                       checked_at__gte=timezone.now() - ORPHAN_WINDOW)
    for row in rows.order_by("-checked_at", "-id"):
        newest.setdefault((row.store, row.location), row)
    return list(newest.values())


def _chart(by_finding):
    """One bar per finding, the longest 300 units wide."""
    biggest = max([count for _, count in by_finding] + [1])
    return [{"finding": name, "count": count, "bar": max(1, round(300 * count / biggest)),
             "y": 10 + index * 30} for index, (name, count) in enumerate(by_finding)]


@staff_member_required
def audit_page(request):
    database = _selected(request.GET.get("db", ""))
    live = ImageLocation.objects.using(database).filter(status=ImageLocation.Status.ACTIVE,
                                                        image__deleted=False)
    last = findings_last(location_ids=live.values_list("id", flat=True), database=database)
    located = list(last.values())
    unreferenced = _unreferenced(database)
    rows = located + unreferenced
    by_finding = sorted(Counter(row.finding for row in rows).items())
    by_store = {}
    for row in rows:
        by_store.setdefault(row.store, Counter())[row.finding] += 1
    finding, store = request.GET.get("finding", ""), request.GET.get("store", "")

    def shown(row):
        return (not finding or row.finding == finding) and (not store or row.store == store)

    problems = sorted((row for row in located if row.finding != Finding.OK and shown(row)),
                      key=lambda row: (row.store, row.finding, row.location))
    objects = sorted((row for row in unreferenced if shown(row)),
                     key=lambda row: (row.store, row.location))
    chart = _chart(by_finding)
    return render(request, "images/audit.html", {
        "database": database, "database_label": DATABASE_PHRASES[database],
        "databases": [(alias, DATABASE_LABELS[alias]) for alias in reference_aliases()],
        "glance_configured": len(reference_aliases()) > 1,
        "by_finding": by_finding, "checked": len(last), "chart": chart,
        "chart_height": 20 + 30 * len(chart),
        "by_store": sorted((name, sorted(counts.items())) for name, counts in by_store.items()),
        "problems": problems,
        "leftovers": [row for row in objects if row.finding == Finding.LEFTOVER],
        "foreign": [row for row in objects if row.finding == Finding.FOREIGN],
        "orphans": [row for row in objects if row.finding == Finding.ORPHAN],
        "findings": [f for f in Finding.values if f != Finding.OK],
        "stores": [s.name for s in all_stores()], "params": request.GET,
        "newest": AuditFinding.objects.filter(database=database)
        .order_by("-checked_at", "-id").first()})


@staff_member_required
@require_POST
def audit_start(request):
    deep = request.POST.get("deep") == "on"
    store = request.POST.get("store", "")
    database = request.POST.get("database", "default")
    if database not in reference_aliases():
        messages.error(request, f"No database '{database}' is configured; "
                                f"known: {', '.join(reference_aliases())}.")
        return redirect("images:audit")
    if store and store not in settings.STORES:
        messages.error(request, f"No store '{store}' is configured.")
        return redirect(_audit_url(database))
    if store:
        transaction.on_commit(lambda: audit_store_task.delay(store, deep=deep,
                                                             database=database))
    else:
        transaction.on_commit(lambda: audit_all_task.delay(deep=deep, database=database))
    messages.success(request, f"{'Deep' if deep else 'Shallow'} audit of the "
                              f"{DATABASE_PHRASES[database]} in "
                              f"{'store ' + store if store else 'every store'} started; "
                              f"reload for its findings.")
    return redirect(_audit_url(database))


@staff_member_required
@require_POST
def audit_act(request):
    action = request.POST.get("action")
    database = _selected(request.POST.get("database", ""))
    try:
        if action in ("recopy", "forget"):
            # Only the portal's own locations: a Glance database is read-only.
            location = ImageLocation.objects.get(pk=request.POST.get("location_id"))
            if action == "forget":
                repair.location_forget(location=location)
                messages.success(request, f"Dropped the location in store '{location.store}'.")
            else:
                task = repair.location_recopy(location=location, caller=Caller.of_request(request))
                transaction.on_commit(lambda: image_import_task.delay(task.id))
                messages.success(request, f"Re-copying into store '{location.store}'.")
        elif action == "remove-leftover":
            repair.leftover_delete(store_name=request.POST.get("store", ""),
                                   location=request.POST.get("location", ""))
            messages.success(request, "Removed the leftover object.")
        else:
            messages.error(request, "Unknown action.")
    except ImageError as exc:
        messages.error(request, exc.message)
    except (ImageLocation.DoesNotExist, ValueError):
        messages.error(request, "That location no longer exists.")
    return redirect(_audit_url(database))


def _current_size(store_name, location):
    """(size in bytes now, or None, and why not)."""
    try:
        return get_store(store_name).size(location), ""
    except ObjectNotFound:
        return None, "The object is no longer in the store."
    except (InvalidLocation, StoreError) as exc:
        return None, f"The store could not be asked: {exc}"


@staff_member_required
@require_http_methods(["GET", "POST"])
def foreign_remove(request, finding_id):
    """A foreign object, confirmed before it is removed: GET shows what it is, POST removes it
    if, checked again now, nothing references it and its size is still the one confirmed."""
    row = get_object_or_404(AuditFinding, pk=finding_id, finding=Finding.FOREIGN)
    if request.method == "POST":
        store = request.POST.get("store", "")
        location = request.POST.get("location", "")
        try:
            size = int(request.POST.get("size", ""))
        except ValueError:
            messages.error(request, "The size to confirm is missing; nothing was removed.")
            return redirect("images:foreign_remove", finding_id=row.id)
        try:
            repair.foreign_delete(store_name=store, location=location, size=size)
        except ImageError as exc:
            messages.error(request, f"Not removed: {exc.message}")
            return redirect("images:foreign_remove", finding_id=row.id)
        except StoreError as exc:
            messages.error(request, f"Not removed: {exc}")
            return redirect("images:foreign_remove", finding_id=row.id)
        messages.success(request, f"Removed the foreign object {location} from store "
                                  f"'{store}' ({size} bytes).")
        return redirect(_audit_url(row.database))
    current, problem = _current_size(row.store, row.location)
    try:
        name = get_store(row.store).key_of(row.location)
    except (InvalidLocation, StoreError):
        name = ""
    # The size confirmed is the one the audit saw: if the object changed since, the removal
    # is refused (someone is writing it).
    size = row.size if row.size is not None else current
    return render(request, "images/audit_foreign.html", {
        "row": row, "name": name, "size": size, "current": current, "problem": problem,
        "changed": current is not None and row.size is not None and current != row.size,
        "database_label": DATABASE_PHRASES.get(row.database, row.database),
        "back": _audit_url(row.database)})
