"""The Audit page: what the last audits found, and the actions on a finding (staff only)."""
from collections import Counter
from datetime import timedelta

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from images.exceptions import ImageError
from images.models import AuditFinding, ImageLocation
from images.selectors import Caller
from images.services import repair
from images.services.audit import findings_last
from images.tasks import audit_all_task, audit_store_task, image_import_task
from stores.registry import all_stores

# Orphans are reported by the audits of the past week; each is re-checked before deletion.
ORPHAN_WINDOW = timedelta(days=7)


@staff_member_required
def audit_page(request):
    live = ImageLocation.objects.filter(status=ImageLocation.Status.ACTIVE, image__deleted=False)
    last = findings_last(location_ids=live.values_list("id", flat=True))
    rows = list(last.values())
    orphans = {}
    for row in AuditFinding.objects.filter(finding=AuditFinding.Finding.ORPHAN,
                                           checked_at__gte=timezone.now() - ORPHAN_WINDOW):
        orphans.setdefault((row.store, row.location), row)
    rows += list(orphans.values())
    by_finding = Counter(row.finding for row in rows)
    by_store = {}
    for row in rows:
        counts = by_store.setdefault(row.store, Counter())
        counts[row.finding] += 1
    finding, store = request.GET.get("finding", ""), request.GET.get("store", "")
    problems = [row for row in rows if row.finding != AuditFinding.Finding.OK
                and (not finding or row.finding == finding) and (not store or row.store == store)]
    problems.sort(key=lambda row: (row.store, row.finding, row.location))
    return render(request, "images/audit.html", {
        "by_finding": sorted(by_finding.items()), "checked": len(last),
        "by_store": sorted((name, sorted(counts.items())) for name, counts in by_store.items()),
        "problems": problems, "findings": AuditFinding.Finding.values,
        "stores": [s.name for s in all_stores()], "params": request.GET,
        "newest": AuditFinding.objects.order_by("-checked_at").first()})


@staff_member_required
@require_POST
def audit_start(request):
    deep = request.POST.get("deep") == "on"
    store = request.POST.get("store", "")
    if store:
        transaction.on_commit(lambda: audit_store_task.delay(store, deep=deep))
    else:
        transaction.on_commit(lambda: audit_all_task.delay(deep=deep))
    messages.success(request, f"{'Deep' if deep else 'Shallow'} audit of "
                              f"{store or 'every store'} started; reload for its findings.")
    return redirect("images:audit")


@staff_member_required
@require_POST
def audit_act(request):
    action = request.POST.get("action")
    try:
        if action in ("recopy", "forget"):
            location = ImageLocation.objects.get(pk=request.POST.get("location_id"))
            if action == "forget":
                repair.location_forget(location=location)
                messages.success(request, f"Dropped the location in store '{location.store}'.")
            else:
                task = repair.location_recopy(location=location, caller=Caller.of(request.user))
                transaction.on_commit(lambda: image_import_task.delay(task.id))
                messages.success(request, f"Re-copying into store '{location.store}'.")
        elif action == "delete-orphan":
            repair.orphan_delete(store_name=request.POST.get("store", ""),
                                 location=request.POST.get("location", ""))
            messages.success(request, "Deleted the orphan object.")
        else:
            messages.error(request, "Unknown action.")
    except ImageError as exc:
        messages.error(request, exc.message)
    except ImageLocation.DoesNotExist:
        messages.error(request, "That location no longer exists.")
    return redirect("images:audit")
