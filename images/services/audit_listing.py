"""Audits by listing: a store's objects read in bulk and compared with its locations in one
pass, instead of a request per object.

A store that lists in key order (Swift: container GETs of 10,000 names with their bytes;
S3: ListObjectsV2 pages with Size and ETag) is merged with its locations read in the same
order: keyset pages over the image ids, which name the objects. A file store, whose folder
lists in no order, is listed a page at a time, each page joined with the locations naming
its objects (looked up by image id); only when some location was not met is each looked at
again, with a stat. Only a page of each side is in memory at a time.

The listing only ever concludes `ok`. A location whose object the listing lacks, lists with
another size, or lists with a size that may not be the object's (a large object's manifest,
a multipart upload) is checked as before, by asking the store for that object: every finding
is the one the per-object audit makes. The objects that no audited location matched are
looked up in batches by the image id their name holds (any location that keeps data, staged
data, in every known database) and reported as `leftover` or `foreign`, as store_orphans
always did.
"""
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

from django.db.models import F, TextField, Value
from django.db.models.functions import Concat

from images.models import ImageLocation, ImageProperty
from images.selectors import reference_aliases
from images.services import audit
from images.services.writes import journal_owned
from stores.base import KEY_RE
from stores.exceptions import InvalidLocation, StoreError
from stores.locations import redact
from stores.registry import all_stores

# Locations read per keyset page; objects looked up together (the databases' limits on query
# parameters: 32766 on SQLite, 65535 on PostgreSQL).
PAGE = 2000
BATCH = audit.BATCH_SIZE
# The statuses of locations whose data is kept (see audit._reference_values).
KEPT = (ImageLocation.Status.ACTIVE, ImageLocation.Status.PENDING_DELETE)
PROBE = "0"


def uri_prefix(store):
    """What every location URI `store` writes holds before the key, or None when its URIs
    are not that prefix followed by the key."""
    try:
        uri = store.uri_for(PROBE)
    except (NotImplementedError, StoreError, InvalidLocation):
        return None
    return uri[:-len(PROBE)] if uri.endswith(PROBE) else None


def listable(store):
    """The URI prefix of `store` when its locations can be audited by listing, else None.

    That takes a bulk listing, and URIs that no other store claims: the locations written in
    the store's own form (`<prefix><image id>`) are then all this store's, whatever their
    `store` metadata says, and nothing else needs to resolve them.
    """
    if not store.bulk_listing:
        return None
    prefix = uri_prefix(store)
    if prefix is None or redact(prefix + PROBE) != prefix + PROBE:
        return None
    owners = [other for other in all_stores() if other.owns(prefix + PROBE)]
    return prefix if owners == [store] else None


def _own_form(prefix):
    return Concat(Value(prefix), F("image_id"), output_field=TextField())


def other_locations(locations, stores):
    """`locations` without those in the own form of one of `stores` (listable ones)."""
    for store in stores:
        prefix = listable(store)
        if prefix is not None:
            locations = locations.exclude(value=_own_form(prefix))
    return locations


def _fields(deep):
    fields = ["id", "image_id", "value", "image__size"]
    if deep:
        fields += ["image__checksum", "image__os_hash_algo", "image__os_hash_value"]
    return fields


def _own(prefix, *, using):
    """The audited locations in a store's own form."""
    return audit.audited_locations(using=using).filter(value=_own_form(prefix))


def _rows(prefix, *, using, deep):
    """The audited locations in a store's own form, in image id order, as tuples (location
    id, image id, URI, image size[, checksum, hash algorithm, hash]): keyset pages."""
    rows = _own(prefix, using=using).order_by("image_id", "id").values_list(*_fields(deep))
    last = None
    while True:
        page = rows if last is None else (rows.filter(image_id__gte=last[0])
                                          .exclude(image_id=last[0], id__lte=last[1]))
        page = list(page[:PAGE])
        if not page:
            return
        yield from page
        last = (page[-1][1], page[-1][0])


def _location(store, row):
    """The location and image objects that audit.location_audit reads, from a row."""
    location = SimpleNamespace(id=row[0], value=row[2], store=store.name)
    image = SimpleNamespace(id=row[1], size=row[3], checksum=None, os_hash_algo=None,
                            os_hash_value=None)
    if len(row) > 4:
        image.checksum, image.os_hash_algo, image.os_hash_value = row[4:7]
    return location, image


class Checks:
    """Runs location checks in a bounded pool of threads (deep audits hash objects in
    parallel) and hands the findings back in the order the checks were put."""

    def __init__(self, workers=1):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="audit") \
            if workers > 1 else None
        # Twice the workers: each has its next check waiting, and at most that many objects
        # are being read at once.
        self._limit = 2 * workers
        self._pending = deque()

    def put(self, check, *args, **kwargs):
        """Run `check(*args, **kwargs)`; returns the findings that are now ready, in order."""
        if self._pool is None:
            return [check(*args, **kwargs)]
        self._pending.append(self._pool.submit(check, *args, **kwargs))
        return self._ready(self._limit)

    def known(self, finding):
        """A finding made without a check, kept in order behind the checks running."""
        if not self._pending:
            return [finding]
        done = Future()
        done.set_result(finding)
        self._pending.append(done)
        return self._ready(self._limit)

    def drain(self):
        return self._ready(0)

    def _ready(self, limit):
        ready = []
        while self._pending and (len(self._pending) > limit or self._pending[0].done()):
            ready.append(self._pending.popleft().result())
        return ready

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def store_audit(store, prefix, *, using, deep, checks, tick):
    """Findings for `store`'s locations in its own form and for its unreferenced objects."""
    ok = SimpleNamespace(store=store, deep=deep, checks=checks, name=store.name,
                         prefix=prefix)
    if store.bulk_listing == "sorted":
        yield from _merged(ok, _rows(prefix, using=using, deep=deep), prefix, tick)
    else:
        yield from _scanned(ok, prefix, using=using, tick=tick)


def _scanned(ok, prefix, *, using, tick):
    """A store listed in no order (a folder): each page of its listing is joined with the
    locations naming its objects, looked up by image id; the objects no location names are
    classified. Only when fewer locations were met than there are is each location looked
    at again (a stat: no request), for those whose object is not there."""
    store = ok.store
    own = _own(prefix, using=using)
    expected = own.count()
    met = 0
    try:
        classifier = Classifier(store)
        page = []
        for entry in store.entries():
            page.append(entry)
            if len(page) >= BATCH:
                met += yield from _scanned_page(ok, own, page, classifier, tick)
                page = []
        met += yield from _scanned_page(ok, own, page, classifier, tick)
        yield from ok.checks.drain()
        yield from classifier.finish()
    except StoreError as exc:
        unlisted = _unlisted(store, exc)
        met = 0  # every location is looked at on its own
    else:
        unlisted = None
    if met < expected:
        for row in _rows(prefix, using=using, deep=ok.deep):
            if unlisted is None and _present(store, row):
                continue  # met in the listing
            yield from _checked(ok, row, None)
            tick()
        yield from ok.checks.drain()
    if unlisted is not None:
        yield unlisted


def _scanned_page(ok, own, page, classifier, tick):
    """Findings for one page of a listing in no order; returns the locations met."""
    if not page:
        return 0
    rows = {}
    for row in own.filter(image_id__in=[key for key, _ in page]).order_by().values_list(
            *_fields(ok.deep)):
        rows.setdefault(row[1], []).append(row)
    met = 0
    for key, size in page:
        if key not in rows:
            yield from classifier.add(key, size)
            continue
        classifier.seen(key)
        for row in rows[key]:
            met += 1
            exact = row[2] == ok.prefix + key  # else a case-insensitive collation
            yield from _checked(ok, row, size if exact else None)
            tick()
    return met


def _present(store, row):
    key = row[1]
    if not KEY_RE.match(key):
        return False  # never listed: checked on its own
    try:
        return store.listed_size(key) is not None
    except StoreError:
        return False


def _checked(ok, row, size):
    """The findings of a location whose object's size is `size` as listed (None: unknown)."""
    if size is None or (row[3] is not None and size != row[3]):
        # Lacking, or of another size: asked for directly, as the per-object audit does.
        location, image = _location(ok.store, row)
        return ok.checks.put(audit.location_audit, location, image=image, deep=ok.deep)
    if ok.deep:
        location, image = _location(ok.store, row)
        return ok.checks.put(audit.location_audit, location, image=image, deep=True,
                             store=ok.store, size=size, uri=row[2])
    return ok.checks.known(audit.Finding(image_id=row[1], store=ok.name, location=row[2],
                                         finding=audit.Result.OK, location_id=row[0]))


def _merged(ok, rows, prefix, tick):
    """One pass over the locations and the store's listing, both in key order."""
    store = ok.store
    try:
        classifier = Classifier(store)
    except StoreError as exc:
        for row in rows:
            yield from _checked(ok, row, None)
            tick()
        yield from ok.checks.drain()
        yield _unlisted(store, exc)
        return
    listing = _Listing(store)
    last_key, last_entry = None, None
    for row in rows:
        key = row[1]
        entry = None
        if row[2] != prefix + key or not KEY_RE.match(key):
            pass  # not quite the own form after all (a case-insensitive collation)
        elif last_key is not None and key <= last_key:
            # The database's order is not the listing's (its collation) for this key: the
            # object is asked for; passed in the listing, it was looked up as unmatched.
            entry = last_entry if key == last_key else None
        else:
            for passed in listing.until(key):
                yield from classifier.add(passed.key, passed.size)
            entry = listing.take(key)
            if entry is not None:
                classifier.seen(key)
            last_key, last_entry = key, entry
        yield from _checked(ok, row, entry.size if entry is not None and entry.exact else None)
        tick()
    for passed in listing.rest():
        yield from classifier.add(passed.key, passed.size)
    yield from ok.checks.drain()
    yield from classifier.finish()
    if listing.error is not None:
        yield _unlisted(store, listing.error)


def _unlisted(store, error):
    return audit.Finding(image_id=None, store=store.name, location="",
                         finding=audit.Result.UNREACHABLE,
                         detail=f"could not list the store: {error}")


class _Listing:
    """A store's listing read forward; a store that cannot be listed lists nothing (its
    locations are then each asked for) and keeps the error."""

    def __init__(self, store):
        self._entries = store.listed()
        self._next = None
        self.error = None
        self._advance()

    def _advance(self):
        try:
            self._next = next(self._entries, None)
        except StoreError as exc:
            self.error, self._next = exc, None

    def until(self, key):
        """The entries before `key`."""
        while self._next is not None and self._next.key < key:
            passed = self._next
            self._advance()
            yield passed

    def take(self, key):
        """The entry of `key` when it is next, else None."""
        if self._next is not None and self._next.key == key:
            entry = self._next
            self._advance()
            return entry
        return None

    def rest(self):
        while self._next is not None:
            passed = self._next
            self._advance()
            yield passed


def orphans(store):
    """The unreferenced objects of `store` (leftover or foreign), its whole listing read a
    page at a time; an `unreachable` finding when it cannot be listed."""
    try:
        classifier = Classifier(store)
        entries = store.entries()
        for key, size in entries:
            yield from classifier.add(key, size)
        yield from classifier.finish()
    except StoreError as exc:
        yield _unlisted(store, exc)


class Classifier:
    """Tells the objects of a store that no audited location matched apart, in batches:
    referenced by something else, of an image still being written, a segment of a referenced
    Glance large object, or unreferenced (leftover or foreign).

    The segments a store writes apart from their object (a large image's, in Swift) are
    listed first and kept, per owner: there are as many owners as images too large for one
    object.
    """

    def __init__(self, store):
        self.store = store
        self.prefix = uri_prefix(store)
        self.segments = {}
        for owner, name in store.segment_keys():
            self.segments.setdefault(owner, []).append(name)
        self.present = set()  # owners of segments that are objects of the store too
        self.odd = odd_references(store)
        self._batch = []

    def seen(self, key):
        """`key` is an object of the store that an audited location matched."""
        if key in self.segments:
            self.present.add(key)

    def add(self, key, size):
        """An object no audited location matched; returns the findings now made."""
        self.seen(key)
        self._batch.append((key, size))
        if len(self._batch) >= BATCH:
            return self._flush()
        return []

    def finish(self):
        findings = self._flush()
        owners = sorted(owner for owner in self.segments if owner not in self.present)
        if not owners:
            return findings
        writing = audit.images_writing({audit._image_of(owner) for owner in owners})
        referenced = self.referenced(owners)
        loose = [owner for owner in owners
                 if owner not in referenced and audit._image_of(owner) not in writing]
        owned = journal_owned(store=self.store.name, keys=loose)
        findings += [audit._unreferenced_finding(self.store, owner, owned.get(owner),
                                                 segments=len(self.segments[owner]))
                     for owner in loose]
        return findings

    def _flush(self):
        batch, self._batch = self._batch, []
        if not batch:
            return []
        keys = {key for key, _ in batch}
        owners = {owner for key in keys if (owner := self.store.dlo_owner(key))}
        referenced = self.referenced(keys | owners)
        rest = keys - referenced
        writing = {}
        if rest:
            # In-flight images, then the references again, as store_orphans always read
            # them: an upload that ends in between is seen one way or the other, never as
            # neither. Most objects are some location's, found by the first lookup alone.
            writing = audit.images_writing({audit._image_of(key) for key in rest})
            referenced |= self.referenced(rest | {owner for key in rest
                                                  if (owner := self.store.dlo_owner(key))})
        unreferenced = [(key, size) for key, size in batch
                        if key not in referenced and audit._image_of(key) not in writing
                        and not audit._segment_of_referenced(self.store, key, referenced)]
        owned = journal_owned(store=self.store.name, keys=[key for key, _ in unreferenced])
        return [audit._unreferenced_finding(self.store, key, owned.get(key), size=size)
                for key, size in unreferenced]

    def referenced(self, keys):
        """Those of `keys` that a location keeping data, or staged data, of any known
        database names: looked up by the image id each key holds (staged data only for the
        keys no location names)."""
        keys = set(keys)
        found = keys & self.odd
        for staged in (False, True):
            ids = sorted({audit._image_of(key) for key in keys - found})
            for start in range(0, len(ids), BATCH):
                chunk = ids[start:start + BATCH]
                for image_id, value in _references(image_ids=chunk, staged=staged):
                    if self.prefix is not None and value == self.prefix + image_id and \
                            KEY_RE.match(image_id):
                        key = image_id
                    else:
                        try:
                            key = self.store.key_of(value)
                        except InvalidLocation:
                            continue
                    if key in keys:
                        found.add(key)
        return found


def _references(*, image_ids=None, others=None, staged=None):
    """(image id, URI) of every location keeping data (`staged` False) and of staged data
    (`staged` True; both when None), in every known database: of the given images, or
    (`others`, a list of URI prefixes) those not in the form `<prefix><image id>` of any."""
    for alias in reference_aliases():
        sources = []
        if staged is not True:
            # all_objects: a `pending_delete` location is soft-deleted (as Glance writes
            # it), yet its data is kept for the scrubber, or for a restore.
            sources.append(ImageLocation.all_objects.using(alias).filter(status__in=KEPT))
        if staged is not False and alias == audit.RECORD_ALIAS:
            sources.append(ImageProperty.objects.filter(name=audit.STAGING_PROPERTY))
        for rows in sources:
            if image_ids is not None:
                rows = rows.filter(image_id__in=image_ids)
            for prefix in others or ():
                rows = rows.exclude(value=_own_form(prefix))
            yield from rows.values_list("image_id", "value").iterator(chunk_size=BATCH)


def odd_references(store):
    """Keys of `store` referenced by a URI whose key is not the image's id (nor its staged
    data's name): a lookup by image id cannot find them. Few: every store names an image's
    object by its id."""
    prefixes = [prefix for prefix in map(uri_prefix, all_stores()) if prefix is not None]
    odd = set()
    for image_id, value in _references(others=prefixes):
        try:
            key = store.key_of(value)
        except InvalidLocation:
            continue
        if audit._image_of(key) != image_id:
            odd.add(key)
    return odd
