"""The portal's pages. Each view parses input, calls a service or selector, and renders."""
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from images import policy, services
from images.exceptions import ImageError
from images.models import CONTAINER_FORMATS, DISK_FORMATS, Image, ImageLocation, ImageProperty
from images.representation import image_view
from images.selectors import (Caller, image_get, image_get_visible, image_locations, images_for_portal,
                              store_usage)
from images.services.audit import findings_last
from images.services.data import UPLOAD_ERROR_PROPERTY
from images.services.imports import IMPORTING, image_import, may_copy
from images.services.scrubber import image_restore as image_restore_service
from images.services.scrubber import pending_delete_images
from images.tasks import image_import_task
from stores.exceptions import InvalidLocation
from stores.registry import all_stores, client_stores, reserved, store_for_uri

PAGE_SIZE = 50
# (sort key, column title, first direction when clicked)
SORT_COLUMNS = [("name", "Name", "asc"), ("status", "Status", "asc"),
                ("disk_format", "Format", "asc"), ("size", "Size", "desc"),
                ("visibility", "Visibility", "asc"), (None, "Stores", None),
                ("updated_at", "Updated", "desc")]
SEED_ROWS = ("checksum", "container_format", "created_at", "disk_format", "id", "min_disk",
             "min_ram", "name", "owner", "protected", "size", "status", "updated_at",
             "virtual_size", "visibility", "os_hash_algo", "os_hash_value", "stores")


def _caller(request):
    return Caller.of_request(request)


def _database(request):
    """The database the page shows: the portal's own, or (for admins, when one is
    configured) a Glance database, read-only, with `?db=glance`."""
    if request.GET.get("db") == "glance" and "glance" in settings.DATABASES and \
            _caller(request).admin:
        return "glance"
    return "default"


def _visible_or_404(request, image_id, using="default"):
    try:
        return image_get_visible(image_id, _caller(request)) if using == "default" else \
            image_get(image_id, queryset=Image.objects.using(using))
    except ImageError:
        pass
    # Admins also see images waiting for the scrubber, to restore them.
    if using == "default" and _caller(request).admin:
        try:
            return image_get(image_id, queryset=pending_delete_images())
        except ImageError:
            pass
    raise Http404("No such image")


def _may_change(caller, image, rule="modify_image"):
    """Whether the caller may do `rule` on the image: its owner's project or an admin, and
    what the policy says of the caller's roles (a reader may not)."""
    return (caller.admin or (caller.project is not None and image.owner == caller.project)) \
        and policy.allowed(caller, rule, policy.image_target(image, caller))


def _store_choices(caller):
    """The stores with their health as last probed (healthy None: not probed yet). Why a
    store is unhealthy is for admins only: it names folders, endpoints and accounts."""
    choices = []
    for store, health in services.stores_health():
        choices.append({"name": store.name, "description": store.description,
                        "kind": store.kind, "read_only": store.read_only,
                        "healthy": health and health.ok,
                        "reason": health.reason if health and caller.admin else "",
                        "default": store.name == settings.DEFAULT_STORE})
    return choices


def _page_of(queryset, number):
    """({number, has_previous, has_next, ...}, images) of one page of PAGE_SIZE, read as
    PAGE_SIZE + 1 rows: the extra row says whether a next page exists, where a paginator's
    COUNT(*) would read every matching image (most of the page's time at 100,000 images)."""
    try:
        number = max(1, int(number))
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * PAGE_SIZE
    images = list(queryset[start:start + PAGE_SIZE + 1])
    page = {"number": number, "has_previous": number > 1, "previous_page_number": number - 1,
            "has_next": len(images) > PAGE_SIZE, "next_page_number": number + 1}
    return page, images[:PAGE_SIZE]


@login_required
def image_list(request):
    params = request.GET
    using = _database(request)
    sort, direction = params.get("sort", "updated_at"), params.get("dir", "desc")
    queryset = images_for_portal(
        _caller(request), q=params.get("q", "").strip(), status=params.get("status", ""),
        store=params.get("store", ""), visibility=params.get("visibility", ""),
        disk_format=params.get("disk_format", ""), sort=sort, direction=direction,
        using=using)
    page, images = _page_of(queryset, params.get("page"))
    stores = {}
    for location in ImageLocation.objects.using(using).filter(
            image_id__in=[image.id for image in images],
            status=ImageLocation.Status.ACTIVE).order_by("id"):
        stores.setdefault(location.image_id, []).append(location.store)
    # One reverse() for the page, not one per row in the template (a fifth of its time).
    detail = reverse("images:detail", args=["ID"])
    rows = [{"image": image, "stores": stores.get(image.id, []),
             "url": detail.replace("/ID/", f"/{image.id}/")} for image in images]
    query = params.copy()
    query.pop("page", None)
    base = params.copy()
    for key in ("page", "sort", "dir"):
        base.pop(key, None)
    columns = []
    for key, label, first in SORT_COLUMNS:
        if key is None:
            columns.append({"key": None, "label": label})
            continue
        link = base.copy()
        link["sort"] = key
        link["dir"] = ("desc" if direction == "asc" else "asc") if sort == key else first
        columns.append({"key": key, "label": label, "url": "?" + link.urlencode(),
                        "active": sort == key, "dir": direction})
    return render(request, "images/image_list.html", {
        "rows": rows, "page": page, "query": query.urlencode(), "params": params,
        "columns": columns, "statuses": Image.Status.values, "database": using,
        "glance_configured": "glance" in settings.DATABASES and _caller(request).admin,
        "visibilities": Image.Visibility.values, "disk_formats": DISK_FORMATS,
        "stores": [store.name for store in all_stores()]})


@login_required
def image_upload(request):
    return render(request, "images/image_upload.html", {
        "stores": [s for s in _store_choices(_caller(request))
                   if not s["read_only"] and not reserved(s["name"])],
        "disk_formats": DISK_FORMATS, "container_formats": CONTAINER_FORMATS,
        "visibilities": Image.Visibility.values, "admin": _caller(request).admin})


@login_required
def image_detail(request, image_id):
    using = _database(request)
    image = _visible_or_404(request, image_id, using)
    caller = _caller(request)
    view = image_view(image, show_locations=False)
    locations = image_locations(image)
    pending = image.status == Image.Status.PENDING_DELETE
    if pending:
        # Soft-deleted with their image, they still hold its data until the scrubber runs.
        locations = list(ImageLocation.all_objects.filter(
            image=image, status=ImageLocation.Status.PENDING_DELETE).order_by("id"))
    if caller.admin and using == "default":
        last = findings_last(image_id=image.id)
        for location in locations:
            location.last_finding = last.get(location.id)
    in_stores = {location.store for location in locations
                 if location.status == ImageLocation.Status.ACTIVE}
    properties = dict(ImageProperty.objects.using(using).filter(image=image)
                      .values_list("name", "value"))
    extra = sorted((k, v) for k, v in view.items()
                   if k not in SEED_ROWS and k not in ("self", "file", "schema", "tags"))
    # As the API's member list: owners and admins see every member, a member only itself.
    members = image.members.order_by("id")
    if not _may_change(caller, image):
        members = members.filter(member=caller.project) if caller.project else members.none()
    return render(request, "images/image_detail.html", {
        "image": image, "rows": [(k, view.get(k)) for k in SEED_ROWS], "extra": extra,
        "tags": view["tags"], "members": members,
        "locations": locations if caller.admin else None,
        "may_change": using == "default" and _may_change(caller, image) and not pending,
        "admin": caller.admin,
        "database": using,
        "copy_targets": [s.name for s in client_stores()
                         if not s.read_only and s.name not in in_stores]
        if may_copy(caller) else [],
        "importing": properties.get(IMPORTING, ""),
        "failed": properties.get("os_glance_failed_import", ""),
        "upload_error": properties.get(UPLOAD_ERROR_PROPERTY)
        if image.status == Image.Status.QUEUED else None,
    })


def _act(request, image_id, action, rule="modify_image"):
    """Run an action on an image the caller may change; errors become page messages."""
    caller = _caller(request)
    image = _visible_or_404(request, image_id)
    if not _may_change(caller, image, rule):
        messages.error(request, "You are not permitted to change this image.")
        return image, False
    try:
        action(image, caller)
    except ImageError as exc:
        messages.error(request, exc.message)
        return image, False
    return image, True


@login_required
@require_POST
def image_copy(request, image_id):
    store = request.POST.get("store", "")

    def copy(image, caller):
        task = image_import(image=image, caller=caller, body={
            "method": {"name": "copy-image"}, "stores": [store],
            "all_stores_must_succeed": False})
        transaction.on_commit(lambda: image_import_task.delay(task.id))

    image, done = _act(request, image_id, copy)
    if done:
        messages.success(request, f"Copying to store '{store}'…")
    return redirect("images:detail", image_id=image.id)


@login_required
@require_POST
def image_remove_from_store(request, image_id):
    store = request.POST.get("store", "")
    image, done = _act(request, image_id,
                       lambda image, caller: services.location_delete(image=image,
                                                                      store_name=store),
                       "delete_image_location")
    if done:
        messages.success(request, f"Removed the copy in store '{store}'.")
    return redirect("images:detail", image_id=image.id)


@login_required
@require_POST
def image_set_active(request, image_id, action):
    function = {"deactivate": services.image_deactivate,
                "reactivate": services.image_reactivate}.get(action)
    if function is None:
        raise Http404("Unknown action")
    image, done = _act(request, image_id, lambda image, caller: function(image=image), action)
    if done:
        messages.success(request, f"Image {action}d.")
    return redirect("images:detail", image_id=image.id)


@login_required
@require_POST
def image_restore(request, image_id):
    """Admins: a `pending_delete` image back to `active` (as `manage.py scrub --restore`)."""
    if not _caller(request).admin:
        raise Http404("No such image")
    image = _visible_or_404(request, image_id)
    try:
        image_restore_service(image_id=image.id)
    except ImageError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Restored image {image.name or image.id}.")
    return redirect("images:detail", image_id=image.id)


@login_required
@require_POST
def image_delete(request, image_id):
    image, done = _act(request, image_id, lambda image, caller: services.image_delete(
        image=image), "delete_image")
    if not done:
        return redirect("images:detail", image_id=image.id)
    messages.success(request, f"Deleted image {image.name or image.id}.")
    return redirect("images:list")


def _store_usage_in(using):
    """{store name: (image count, bytes)} over the live locations of the live images in
    database `using`, each location placed in the store that holds its URI, as the audit
    places them (a Glance database's `store` metadata may be missing or name another store);
    a location no configured store holds counts under None."""
    usage = {}
    rows = (ImageLocation.objects.using(using)
            .filter(status=ImageLocation.Status.ACTIVE, image__deleted=False)
            .values_list("value", "meta_data", "image__size"))
    for value, meta_data, size in rows.iterator(chunk_size=500):
        try:
            name = store_for_uri(value, hint=(meta_data or {}).get("store") or None).name
        except InvalidLocation:
            name = None
        count, total = usage.get(name, (0, 0))
        usage[name] = (count + 1, total + (size or 0))
    return usage


@login_required
def store_dashboard(request):
    using = _database(request)
    usage = store_usage(_caller(request)) if using == "default" else _store_usage_in(using)
    rows = []
    for store in _store_choices(_caller(request)):
        count, size = usage.get(store["name"], (0, 0))
        rows.append({**store, "count": count, "bytes": size})
    biggest = max([row["bytes"] for row in rows] + [1])
    for index, row in enumerate(rows):
        row["bar"] = round(300 * row["bytes"] / biggest)
        row["y"] = 10 + index * 34
    unplaced = usage.get(None, (0, 0)) if using != "default" else (0, 0)
    return render(request, "images/stores.html", {
        "rows": rows, "chart_height": 20 + 34 * len(rows), "database": using,
        "glance_configured": "glance" in settings.DATABASES and _caller(request).admin,
        "unplaced_count": unplaced[0], "unplaced_bytes": unplaced[1],
        "chart_data": json.dumps({row["name"]: row["bytes"] for row in rows})})


def home(request):
    return redirect(reverse("images:list"))
