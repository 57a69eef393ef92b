"""Any other Django storage backend as a store, e.g. django-storages' Azure or SFTP storage."""
from django.core.files import File
from django.utils.module_loading import import_string

from stores.base import ChunkReader, Health, Store
from stores.exceptions import InvalidLocation, ObjectNotFound
from stores.locations import Location
from stores.streams import iter_chunks


class StorageStore(Store):
    """Adapts a Django `Storage` class (`storage`, built with `options`).

    Locations are `storage://<store name>/<key>`. Reading streams from `storage.open()`; for
    backends whose files download the whole object on open, prefer a dedicated driver.
    """

    kind = "storage"
    schemes = frozenset({"storage"})

    def __init__(self, name, *, storage, options=None, **kwargs):
        super().__init__(name, **kwargs)
        self.storage = import_string(storage)(**(options or {}))

    def uri_for(self, key):
        return str(Location.for_storage(self.name, key))

    def _key_of(self, location):
        if location.host != self.name:
            raise InvalidLocation(f"{location} belongs to store '{location.host}'",
                                  store=self.name)
        return location.key

    def _save(self, key, stream, undo):
        content = File(stream, name=key)
        content.DEFAULT_CHUNK_SIZE = self.chunk_size
        if self.storage.exists(key):
            raise self._object_exists(key)
        # A Storage has no create-only write: a file that appears under `key` between the
        # check above and the write is taken for this save's partial file if the save fails.
        # When it appears before the write, Storage.save() picks another name (below).
        undo.append(lambda: self.storage.delete(key))
        saved = self.storage.save(key, content)
        if saved != key:
            undo[-1] = lambda: self.storage.delete(saved)
            raise self._object_exists(key)
        return self.uri_for(saved)

    def _open(self, key, *, offset, length):
        if not self.storage.exists(key):
            raise ObjectNotFound(f"Object {key} not found in store '{self.name}'",
                                 store=self.name)
        fh = self.storage.open(key, "rb")
        if offset:
            fh.seek(offset)

        return ChunkReader(iter_chunks(fh, self.chunk_size, length=length), close=fh.close)

    def _delete(self, key):
        self.storage.delete(key)

    def _size(self, key):
        if not self.storage.exists(key):
            raise ObjectNotFound(f"Object {key} not found in store '{self.name}'",
                                 store=self.name)
        return self.storage.size(key)

    def _modified(self, key):
        return self.storage.get_modified_time(key)

    def _entries(self):
        return ((name, None) for name in self.storage.listdir("")[1])

    def _health(self):
        try:
            self.storage.listdir("")
        except FileNotFoundError:
            return Health(True, "empty (created on first write)")
        return Health(True)
