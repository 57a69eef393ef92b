"""Location audits: is each location's object there, of the image's size and checksums, and
which objects in a store does no database reference.

An unreferenced object is a `leftover` when the write journal (images.services.writes)
shows this portal wrote it (an interrupted upload, copy or import: the scrubber may remove
it), and `foreign` otherwise: a store is shared, and an object someone else wrote is
reported, never removed automatically. An object that the portal's database or, when one is
configured, the Glance database references is neither, imported or not; nor are the
segments of a referenced Glance large object.

An audit only reads: it never deletes or changes an object, an image or a location. Its
findings are written as AuditFinding rows into the portal's own database, each with the
database whose records it checked.
"""
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass

from django.db import connections, transaction
from django.utils import timezone

from images.models import AuditFinding, Image, ImageLocation, ImageProperty
from images.selectors import reference_aliases
from portal import metrics
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreError
from stores.locations import redact
from stores.registry import all_stores, get_store, store_for_uri
from stores.streams import HashingReader

logger = logging.getLogger(__name__)

Result = AuditFinding.Finding
# Read 1 MiB at a time: the hashing threads hold a few chunks each, never the whole object.
CHUNK_SIZE = 2**20
BATCH_SIZE = 500
# Findings written together: one transaction (one commit, one fsync) per this many.
RECORD_BATCH = 5000
# An object whose image is in one of these is still being written: not an orphan yet.
IN_FLIGHT = (Image.Status.SAVING, Image.Status.UPLOADING, Image.Status.IMPORTING)
# Staged data (glance-direct) is kept while its image is uploading or importing.
STAGING_PREFIX = "staging-"
STAGING_KEPT = (Image.Status.UPLOADING, Image.Status.IMPORTING)
# Only the portal's own database holds the findings table; a Glance database is opened
# read-only, and its findings are kept here with `database` naming it.
RECORD_ALIAS = "default"
# The hidden image property naming staged data (images.services.data.STAGING_PROPERTY).
STAGING_PROPERTY = "os_glance_staging_uri"


@dataclass
class Finding:
    """One result: `location` is the URI without credentials; `image_id` is None for orphans."""

    image_id: str | None
    store: str
    location: str
    finding: str
    detail: str = ""
    location_id: int | None = None
    size: int | None = None

    @property
    def ok(self):
        return self.finding == Result.OK

    def as_dict(self):
        """The report form: image_id, store, location, finding, detail."""
        data = asdict(self)
        del data["location_id"]
        if data["size"] is None:
            del data["size"]
        return data


def location_audit(location, *, image, deep=False, store=None, size=None, uri=None):
    """Check one location of `image`: present, of the image's size, and (deep) its checksums.

    Returns a Finding; store errors become findings (a store that is down is `unreachable`,
    not `missing`), nothing is raised for them. A caller that read the store's listing passes
    the `store` holding the location, the object's exact `size` and the redacted `uri`,
    which are then not looked up again.
    """
    uri = uri or redact(location.value)

    def finding(result, store_name, detail=""):
        return Finding(image_id=image.id, store=store_name, location=uri, finding=result,
                       detail=detail, location_id=location.id)

    if store is None:
        try:
            store = store_for_uri(location.value, hint=location.store or None)
        except InvalidLocation as exc:
            return finding(Result.UNKNOWN_STORE, location.store, str(exc))
    try:
        if size is None:
            size = store.size(location.value)
        if image.size is not None and size != image.size:
            return finding(Result.SIZE_MISMATCH, store.name,
                           f"expected {image.size} bytes, found {size}")
        if deep:
            mismatch = _checksum_mismatch(store, location.value, image)
            if mismatch:
                return finding(Result.CHECKSUM_MISMATCH, store.name, mismatch)
    except ObjectNotFound as exc:
        return finding(Result.MISSING, store.name, str(exc))
    except StoreError as exc:
        return finding(Result.UNREACHABLE, store.name, str(exc))
    return finding(Result.OK, store.name)


def _checksum_mismatch(store, uri, image):
    """Stream the object through the hashers; a description of what differs, or ""."""
    algo = image.os_hash_algo or "sha512"
    reader = store.open(uri)
    hashing = HashingReader(reader, ("md5", algo))
    try:
        while hashing.read(CHUNK_SIZE):
            pass
        digests = hashing.hexdigests()
    finally:
        hashing.close()
        reader.close()
    problems = []
    if image.checksum and digests["md5"] != image.checksum:
        problems.append(f"md5 expected {image.checksum}, found {digests['md5']}")
    if image.os_hash_value and digests[algo] != image.os_hash_value:
        problems.append(f"{algo} expected {image.os_hash_value}, found {digests[algo]}")
    return "; ".join(problems)


def audited_locations(*, using="default"):
    """Live, active locations of images that are not deleted, each with its image."""
    return (ImageLocation.objects.using(using)
            .filter(status=ImageLocation.Status.ACTIVE, image__deleted=False)
            .select_related("image").order_by("id"))


def _reference_values(*, ending=None):
    """Every URI that a live or pending_delete location, or staged data, of any known
    database names (only those ending with `ending`, when given), streamed."""
    for alias in reference_aliases():
        # all_objects: a `pending_delete` location is soft-deleted (as Glance writes it), yet
        # its data is kept for the scrubber, or for a restore.
        sources = [ImageLocation.all_objects.using(alias).filter(
            status__in=[ImageLocation.Status.ACTIVE, ImageLocation.Status.PENDING_DELETE])]
        if alias == RECORD_ALIAS:
            sources.append(ImageProperty.objects.filter(name=STAGING_PROPERTY))
        for rows in sources:
            if ending is not None:
                rows = rows.filter(value__endswith=ending)
            yield from rows.values_list("value", flat=True).iterator(chunk_size=BATCH_SIZE)


def _keys_in(store, values):
    for value in values:
        try:
            yield store.key_of(value)
        except InvalidLocation:
            continue


def key_referenced(store, key):
    """Whether a location or staged data of any known database references `key` of `store`:
    the one-object check, reading only the URIs that end with the key."""
    return key in _keys_in(store, _reference_values(ending=key))


def images_writing(image_ids):
    """{image id: status} of the given images that an upload or import is writing now, in
    any known database."""
    writing = {}
    image_ids = sorted(image_ids)
    # In batches: one IN (...) with every key of a large store passes the databases' limits
    # on query parameters (32766 on SQLite, 65535 on PostgreSQL).
    for alias in reference_aliases():
        for start in range(0, len(image_ids), BATCH_SIZE):
            writing.update(Image.all_objects.using(alias)
                           .filter(id__in=image_ids[start:start + BATCH_SIZE],
                                   status__in=IN_FLIGHT)
                           .values_list("id", "status"))
    return writing


def _image_of(key):
    return key.removeprefix(STAGING_PREFIX)


def store_orphans(store, *, using="default"):
    """Objects in `store` that no database references, as `leftover` or `foreign` findings
    (or an `unreachable` finding when the store cannot be listed).

    Objects of images still being written (saving, uploading, importing) are left out, and
    so are the segments of a referenced Glance large object. `using` is accepted for the
    callers' symmetry: every known database counts, whichever is being audited. The listing
    is read a page at a time (images.services.audit_listing).
    """
    return list(audit_listing.orphans(store))


def _segment_of_referenced(store, key, referenced):
    """True when `key` is a segment of a Glance large object whose manifest is referenced."""
    owner = store.dlo_owner(key)
    if owner is None or owner not in referenced:
        return False
    try:
        prefix = store.manifest_prefix(owner)
    except StoreError:
        return True  # cannot tell now: a referenced image's part is kept until it can
    return prefix is not None and prefix.endswith(f"/{owner}-")


def _unreferenced_finding(store, key, row, *, size=None, segments=0):
    uri = store.uri_for(key)
    if not segments and not size:
        # Not in the listing, or listed as empty: a large object's manifest is listed with
        # its own size, a HEAD gives the whole object's.
        try:
            size = store.size(uri)
        except StoreError:
            size = None
    what = f"{segments} segment(s) of {key}, with no object {key}" if segments else \
        "no database references this object"
    if row is not None:
        result = Result.LEFTOVER
        detail = (f"{what}; written by this portal ({row.purpose} of image {row.image_id}, "
                  f"started {row.started_at:%Y-%m-%d %H:%M:%S} UTC) and never recorded")
    else:
        result = Result.FOREIGN
        detail = f"{what}; not written by this portal: left as it is"
    return Finding(image_id=row.image_id if row is not None else None, store=store.name,
                   location=redact(uri), finding=result, detail=detail, size=size)


def findings_record(findings, *, deep=False, using="default"):
    """Write findings as AuditFinding rows in the portal's own database, each naming the
    database (`using`) whose records were audited.

    One INSERT run over every row (executemany): a model instance per row is what made
    recording a large audit's findings cost more than checking them.
    """
    fields = [AuditFinding._meta.get_field(name) for name in (
        "image_id", "location_id", "store", "location", "finding", "detail", "deep",
        "checked_at", "database", "size")]
    connection = connections[RECORD_ALIAS]
    quote = connection.ops.quote_name
    sql = (f"INSERT INTO {quote(AuditFinding._meta.db_table)} "
           f"({', '.join(quote(field.column) for field in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    checked_at = fields[7].get_db_prep_value(timezone.now(), connection)
    rows = [(f.image_id, f.location_id, f.store[:64], f.location, str(f.finding), f.detail,
             deep, checked_at, using, f.size) for f in findings]
    if rows:
        with transaction.atomic(using=RECORD_ALIAS), connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def image_audit(*, image, deep=False, using="default", record=True):
    """Audit every location of one image; returns the findings."""
    findings = [location_audit(location, image=image, deep=deep)
                for location in audited_locations(using=using).filter(image_id=image.id)]
    if record:
        findings_record(findings, deep=deep, using=using)
    return findings


def audit_run(*, store_name=None, deep=False, using="default", record=True, progress=None,
              keep=None, tally=None, workers=None):
    """Audit every location (of one store when `store_name` is given), then look for orphans.

    A store that lists in bulk is read by listing (images.services.audit_listing): its
    locations and its objects are compared in one pass, with the findings of a request per
    object. A deep audit hashes up to `workers` objects at once (default: one per CPU).
    `progress(done, total)` is called as locations are checked. Returns the findings that
    `keep(finding)` accepts (all by default); `tally`, a Counter of (store, finding), counts
    every one. Keeping only the problems keeps memory flat whatever the number of locations.
    With `record`, findings are also written as AuditFinding rows (portal database only).
    """
    stores = [get_store(store_name)] if store_name else all_stores()
    locations = audited_locations(using=using)
    total = locations.count()
    findings, batch = [], []
    counted = Counter()
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress:
            progress(min(done, total), total)

    def add(items):
        batch.extend(items)
        if len(batch) >= RECORD_BATCH:
            _flush(batch, findings, record=record, deep=deep, using=using, keep=keep,
                   tally=counted)

    checks = audit_listing.Checks(max(1, workers or os.cpu_count() or 1) if deep else 1)
    try:
        listed = []
        for store in stores:
            prefix = audit_listing.listable(store)
            if prefix is not None:
                listed.append(store)
                for finding in audit_listing.store_audit(store, prefix, using=using, deep=deep,
                                                         checks=checks, tick=tick):
                    add([finding])
        # Every listable store's own-form locations were read with it, or are another store's.
        others = audit_listing.other_locations(locations, [
            store for store in all_stores() if audit_listing.listable(store)])
        for location in others.iterator(chunk_size=BATCH_SIZE):
            if store_name is None or _in_store(location, store_name):
                add(checks.put(location_audit, location, image=location.image, deep=deep))
            tick()
        add(checks.drain())
    finally:
        checks.close()
    for store in stores:
        if store not in listed:
            add(store_orphans(store, using=using))
    _flush(batch, findings, record=record, deep=deep, using=using, keep=keep, tally=counted)
    if tally is not None:
        tally.update(counted)
    metrics.audit_counted(counted, database=using, stores=[store.name for store in stores],
                          kinds=AuditFinding.Finding.values)
    return findings


def _flush(batch, findings, *, record, deep, using, keep, tally):
    if record:
        findings_record(batch, deep=deep, using=using)
    if tally is not None:
        tally.update((f.store, str(f.finding)) for f in batch)
    findings.extend(f for f in batch if keep is None or keep(f))
    batch.clear()


def _in_store(location, store_name):
    try:
        return store_for_uri(location.value, hint=location.store or None).name == store_name
    except InvalidLocation:
        return location.store == store_name


def findings_last(*, location_ids=None, image_id=None, database=RECORD_ALIAS):
    """The newest finding of each location (of the given locations or image) of `database`."""
    rows = AuditFinding.objects.using(RECORD_ALIAS).filter(database=database).exclude(
        location_id=None)
    if location_ids is not None:
        rows = rows.filter(location_id__in=list(location_ids))
    if image_id is not None:
        rows = rows.filter(image_id=image_id)
    last = {}
    for row in rows.order_by("location_id", "-checked_at", "-id"):
        last.setdefault(row.location_id, row)
    return last


# At the end: the listing pass builds on this module's findings and checks.
from images.services import audit_listing  # noqa: E402
