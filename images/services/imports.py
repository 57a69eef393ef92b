"""Interoperable import: staging data, then importing it (or a URL, or a copy) into stores.

Staged data lives in a store (see data.staging_store), not on a web node's disk, so any web
process or worker can finish an import.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from images import policy
from images.exceptions import (Conflict, Forbidden, ImageError, Invalid, NotFound,
                               QuotaExceeded, StoreFailed, UnsupportedContent)
from images.models import Image, ImageLocation, Task, TaskInfo
from images.services.data import (STAGING_PROPERTY, UPLOAD_ERROR_PROPERTY,
                                  _note_upload_error, _remove_quietly, _set_status, copy_write,
                                  staged_remove, staging_store)
from images.services.properties import property_drop, property_get, property_set
from images.services.quotas import DataQuota, check_activation, check_import
from images.services.writes import (HASH_ALGO, Purpose, data_write, written_recorded,
                                    written_remove)
from stores.exceptions import StoreError, StreamError
from stores.registry import client_stores, get_store

logger = logging.getLogger(__name__)
Status = Image.Status
METHODS = ("glance-direct", "web-download", "copy-image")
TASK_LOCK = "os_glance_import_task"
IMPORTING = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"
# Glance keeps finished tasks for 48 hours (task_time_to_live).
TASK_TTL = timedelta(hours=48)
PROGRESS_STEP = 64 * 2**20


def _staging_key(image):
    return f"staging-{image.id}"


def _store_list(value):
    return [name for name in (value or "").split(",") if name]


def image_stage(*, image, stream, expected_size=None):
    """Keep the data for a later glance-direct import: `queued` → `uploading`."""
    if not image.disk_format or not image.container_format:
        raise Invalid("Properties disk_format and container_format must be set prior to "
                      "staging data.")
    quota = DataQuota(image, resource="image_stage_total", expected_size=expected_size)
    if not _set_status(image, expected=[Status.QUEUED], status=Status.UPLOADING):
        image.refresh_from_db()
        raise Conflict(f"Image status transition from {image.status} to uploading is not "
                       "allowed")
    store = staging_store()
    # Inspected here too, so that bad data is refused with an answer to this request, not
    # later by a failing import task. Hashed only when it is imported.
    try:
        written = data_write(image=image, store=store, stream=stream, purpose=Purpose.STAGE,
                             key=_staging_key(image), quota=quota, expected_size=expected_size,
                             hashed=False)
    except BaseException as exc:
        _set_status(image, expected=[Status.UPLOADING], status=Status.QUEUED, size=None)
        if isinstance(exc, UnsupportedContent):
            _note_upload_error(image, exc.message)
        raise
    try:
        with transaction.atomic():
            quota.check_final(written.size)
            # The journal row stays open while the data is staged: staged_remove closes it.
            property_set(image, STAGING_PROPERTY, written.uri)
            Image.objects.filter(pk=image.pk).update(size=written.size)
    except BaseException:
        written_remove(store, written)
        _set_status(image, expected=[Status.UPLOADING], status=Status.QUEUED, size=None)
        raise
    return image


def _target_stores(method, *, stores, all_stores_flag, header_store, image):
    given = [x is not None and x is not False for x in (stores, header_store)]
    if sum(given) + bool(all_stores_flag) > 1:
        if not (stores and header_store and list(stores) == [header_store]):
            raise Invalid("Use only one of 'stores', 'all_stores' and the X-Image-Meta-Store "
                          "header")
    writable = [store.name for store in client_stores() if not store.read_only]
    if all_stores_flag:
        names = list(writable)
    elif stores is not None:
        if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
            raise Invalid("'stores' must be a list of store ids")
        names = list(dict.fromkeys(stores))
    elif header_store:
        names = [header_store]
    else:
        names = [settings.DEFAULT_STORE]
    for name in names:
        if name not in writable:
            raise Conflict(f"Unknown or read-only store '{name}'; writable stores: "
                           f"{', '.join(writable)}")
    if method == "copy-image":
        present = {loc.store for loc in image.locations.filter(status="active")}
        if stores is not None and present & set(names):
            raise Invalid(f"Image is already present in store(s) "
                          f"{', '.join(sorted(present & set(names)))}")
        names = [name for name in names if name not in present]
    return names


def may_copy(caller):
    """Whether `caller` may copy images it may change into more stores (copy-image)."""
    return settings.COPY_IMAGE == "owner" or policy.allowed(caller, "copy_image")


def image_import(*, image, body, caller, header_store=None, request_id=None, url_check=None):
    """Start an import (`POST /v2/images/ID/import`): validate, lock the image, record a task.

    Returns the task; the caller queues `image_import_task` for it once committed.
    """
    if not isinstance(body, dict):
        raise Invalid("Unexpected body type. Expected dict.")
    method = body.get("method")
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise Invalid("Import request requires a 'method' with a 'name'")
    name = method["name"]
    if name not in METHODS:
        raise Invalid(f"Unknown import method name '{name}'")
    must_succeed = body.get("all_stores_must_succeed", True)
    all_flag = body.get("all_stores", False)
    if not isinstance(must_succeed, bool) or not isinstance(all_flag, bool):
        raise Invalid("'all_stores' and 'all_stores_must_succeed' must be true or false")
    if name == "copy-image":
        if not may_copy(caller):
            raise Forbidden("Copying an image into more stores is an admin's call here "
                            "(copy_image = \"admin\", as Glance's default policy)")
        if image.status != Status.ACTIVE:
            raise Conflict(f"Image {image.id} is {image.status}: only an active image can be "
                           "copied")
    elif image.status == Status.ACTIVE:
        raise Conflict(f"Image {image.id} is already active")
    elif name == "glance-direct" and image.status != Status.UPLOADING:
        raise Conflict(f"Image {image.id} is {image.status}: stage data before a glance-direct "
                       "import")
    elif name == "web-download" and image.status != Status.QUEUED:
        raise Conflict(f"Image {image.id} is {image.status}: web-download needs a queued image")
    if not image.disk_format or not image.container_format:
        raise Conflict("Properties disk_format and container_format must be set prior to "
                       "importing data.")
    names = _target_stores(name, stores=body.get("stores"), all_stores_flag=all_flag,
                           header_store=header_store, image=image)
    check_import(image, name, copies=len(names))
    if name == "web-download":
        uri = method.get("uri")
        if not isinstance(uri, str):
            raise Invalid("web-download requires a 'uri'")
        if url_check is not None:
            url_check(uri)
    now = timezone.now()
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        holder = property_get(locked, TASK_LOCK)
        if holder and Task.objects.filter(pk=holder, status__in=["pending",
                                                                  "processing"]).exists():
            raise Conflict("Image has active task")
        task = Task.objects.create(owner=image.owner or caller.project or "", image_id=image.id,
                                   request_id=request_id,
                                   user_id=str(caller.user.pk) if caller.user else None,
                                   expires_at=now + TASK_TTL, updated_at=now)
        TaskInfo.objects.create(task=task, message="", result={}, input={
            "image_id": image.id, "import_req": body, "backend": names})
        property_set(locked, TASK_LOCK, task.id)
        property_set(locked, IMPORTING, ",".join(names))
        failed = [s for s in _store_list(property_get(locked, FAILED)) if s not in names]
        property_set(locked, FAILED, ",".join(failed))
        if name != "copy-image":
            Image.objects.filter(pk=image.pk).update(status=Status.IMPORTING, updated_at=now)
    return task


class _Progress:
    """Counts bytes through a reader and writes 'Copied N MiB' to the task every 64 MiB."""

    def __init__(self, reader, task):
        self._reader, self._task, self.size, self._next = reader, task, 0, PROGRESS_STEP

    def read(self, n=-1):
        chunk = self._reader.read(n)
        self.size += len(chunk)
        if self.size >= self._next:
            self._next += PROGRESS_STEP
            TaskInfo.objects.filter(task=self._task).update(
                message=f"Copied {self.size // 2**20} MiB")
            Task.objects.filter(pk=self._task.pk).update(updated_at=timezone.now())
        return chunk


def _open_staged(image):
    staged = property_get(image, STAGING_PROPERTY)
    if not staged:
        raise StoreFailed("No staged data for this image")
    return staging_store().open(staged)


def image_import_run(*, task, fetch=None):
    """Run an import task: each target store gets the bytes, hashed on the way.

    The first store written sets the image's checksums; every later store must hash to the
    same, or its copy is removed. With all_stores_must_succeed a failure removes every copy
    written and the image goes back to `queued`; without it, failed stores are listed in
    os_glance_failed_import and the image is active after the first success.
    """
    info = task.info
    request = info.input["import_req"]
    method = request["method"]["name"]
    must_succeed = request.get("all_stores_must_succeed", True)
    names = list(info.input["backend"])
    image = Image.objects.get(pk=task.image_id)
    # A task is acknowledged to the broker only once it has run, so a worker killed in
    # between hands it out again: a finished task is not run twice.
    if task.status in (Task.Status.SUCCESS, Task.Status.FAILURE):
        return task.status == Task.Status.SUCCESS
    Task.objects.filter(pk=task.pk).update(status=Task.Status.PROCESSING,
                                           updated_at=timezone.now())
    written = []  # (store, uri) of each store written, filled as they are
    try:
        return _import_run(task, image, method, names, must_succeed, fetch, written)
    except Exception as exc:
        # An error nobody planned for (a bug, a database error, the worker's soft time limit)
        # still ends the task: failed, nothing partial kept, the image queued again and its
        # lock released, so that the import can be tried again. Then it goes on to Celery.
        logger.exception("task %s: %s of image %s failed unexpectedly", task.id, method,
                         image.id)
        try:
            image.refresh_from_db()
            # Only an import that was allowed to succeed partly has activated the image.
            partly = method != "copy-image" and image.status == Status.ACTIVE
            done = {store.name for store, _ in written}
            _finish(task, image, method, written=written,
                    failed=[name for name in names if name not in done], error=exc,
                    must_succeed=must_succeed, refused=method != "copy-image" and not partly)
        except Exception:
            logger.exception("task %s: could not record its failure", task.id)
        raise


def _import_run(task, image, method, names, must_succeed, fetch, written):
    request = task.info.input["import_req"]
    if method == "web-download":
        try:
            _web_download_to_staging(image, request["method"]["uri"], fetch, task)
        except (ImageError, StoreError, StreamError, ValueError, OSError) as exc:
            if isinstance(exc, UnsupportedContent):
                _note_upload_error(image, exc.message)
            return _finish(task, image, method, written=[], failed=names, error=exc)
    algo = image.os_hash_algo or HASH_ALGO
    expected = None if method != "copy-image" else \
        (image.size, image.checksum, image.os_hash_value)
    failed, error, refused = [], None, None
    virtual_size = image.virtual_size
    for name in names:
        store = get_store(name)
        recorded = method == "copy-image" and [
            loc for loc in image.locations.filter(status="active") if loc.store == name]
        if recorded:  # by an earlier run of this task, killed before it finished
            written.append((store, recorded[0].value))
            _progress_done(image, name)
            continue
        try:
            progress = lambda reader: _Progress(reader, task)  # noqa: E731
            if method == "copy-image":
                written_now, _ = copy_write(image=image, store=store, progress=progress)
            else:
                with _open_staged(image) as source:
                    written_now = data_write(image=image, store=store, stream=source,
                                             purpose=Purpose.IMPORT, expect=expected,
                                             progress=progress)
                virtual_size = written_now.virtual_size
            if expected is None:
                expected = written_now.sums
            with transaction.atomic():
                ImageLocation.objects.create(image=image, value=written_now.uri,
                                             meta_data={"store": name}, status="active")
                written_recorded(written_now)
            written.append((store, written_now.uri))
            if method != "copy-image" and not must_succeed and len(written) == 1:
                refused = _activate(image, expected, algo, virtual_size)
                if refused:
                    break
        except (ImageError, StoreError, StreamError) as exc:
            logger.warning("task %s: store %s failed: %s", task.id, name, exc)
            failed.append(name)
            error = exc
            if isinstance(exc, UnsupportedContent):
                # The same data is refused by every store: the import as a whole is.
                _note_upload_error(image, exc.message)
                break
            if must_succeed:
                break
        finally:
            _progress_done(image, name)
    if method != "copy-image" and written and not (must_succeed and failed) and not refused:
        refused = _activate(image, expected, algo, virtual_size)
    return _finish(task, image, method, written=written, failed=failed, error=refused or error,
                   must_succeed=must_succeed, refused=bool(refused))


def _web_download_to_staging(image, uri, fetch, task):
    store = staging_store()
    with fetch(uri) as response:
        # Inspected while it downloads: a refused 50 GiB download stops after its first MiB.
        written = data_write(image=image, store=store, stream=response,
                             purpose=Purpose.WEB_DOWNLOAD, key=_staging_key(image),
                             quota=DataQuota(image, resource="image_size_total"),
                             expected_size=response.length, hashed=False,
                             progress=lambda reader: _Progress(reader, task))
    property_set(image, STAGING_PROPERTY, written.uri)


def _activate(image, expected, algo, virtual_size):
    """Make the image active; the QuotaExceeded that refuses it instead, if one does."""
    size, md5, digest = expected
    try:
        with transaction.atomic():
            check_activation(image, size)
            Image.objects.filter(pk=image.pk).update(
                status=Status.ACTIVE, size=size, checksum=md5, os_hash_algo=algo,
                os_hash_value=digest, virtual_size=virtual_size, updated_at=timezone.now())
    except QuotaExceeded as exc:
        _note_upload_error(image, f"{exc.message} Nothing was kept.")
        return exc
    property_drop(image, UPLOAD_ERROR_PROPERTY)
    return None


def _progress_done(image, name):
    remaining = [s for s in _store_list(property_get(image, IMPORTING)) if s != name]
    property_set(image, IMPORTING, ",".join(remaining))


def _finish(task, image, method, *, written, failed, error, must_succeed=True, refused=False):
    if failed:
        previous = _store_list(property_get(image, FAILED))
        property_set(image, FAILED, ",".join(dict.fromkeys(previous + failed)))
    success = bool(written) and not (must_succeed and failed) and not refused
    if not success and method != "copy-image":
        for store, uri in written:  # all or nothing: keep no partial import
            _remove_quietly(store, uri)
        ImageLocation.objects.filter(image=image, value__in=[u for _, u in written]).update(
            deleted=True, deleted_at=timezone.now(), status="deleted")
        Image.objects.filter(pk=image.pk).update(status=Status.QUEUED, size=None,
                                                 checksum=None, os_hash_value=None,
                                                 virtual_size=None, updated_at=timezone.now())
    if method != "copy-image" and (success or not written):
        staged_remove(image)
    property_set(image, IMPORTING, "")
    property_drop(image, TASK_LOCK)
    message = (f"Imported into {', '.join(s.name for s, _ in written)}" if success
               else f"Import failed: {error}")
    if success and failed:
        message += f"; failed: {', '.join(failed)}"
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.SUCCESS if success else Task.Status.FAILURE,
        updated_at=timezone.now())
    TaskInfo.objects.filter(task=task).update(message=message,
                                              result={"image_id": image.id})
    # In the log of the process that ran it: with workers on many machines, the one place
    # that says where a task went.
    logger.info("task %s: %s of image %s: %s", task.id, method, image.id, message)
    return success


def image_tasks(*, image):
    return list(Task.objects.filter(image_id=image.id).select_related("info")
                .order_by("-created_at"))


def tasks_visible_to(*, caller):
    """The tasks `caller` may list: its project's, every one for an admin; neither deleted nor
    expired (Glance soft-deletes the expired ones before it lists)."""
    tasks = Task.objects.filter(deleted=False).exclude(expires_at__lte=timezone.now())
    if not caller.admin:
        tasks = tasks.filter(owner=caller.project)
    return tasks


def task_get(task_id):
    task = Task.objects.filter(pk=task_id).select_related("info").first()
    if task is None:
        raise NotFound(f"No task {task_id}")
    return task

