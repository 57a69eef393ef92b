"""What an upload into the file store leaves in the page cache: the tail of the image, as
much of it as the store's budget and the available memory allow, and nothing before it.

Residency is read with mincore(2) page by page, so the tests say which byte ranges stay
cached, not only how many bytes.
"""
import ctypes
import io
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores.backends import file as file_backend
from stores.backends.file import CACHE_TAIL, PAGE, WRITE_BEHIND, FileStore, WriteBehind, \
    cache_budget

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long)
LIBC.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
LIBC.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
PROT_READ, MAP_SHARED = 1, 1
GiB = 2**30
# The page cache holds a file in folios of up to 2 MiB (ext4, XFS) and evicts only whole
# ones: a folio across the start of the tail may stay.
FOLIO = 2 * 2**20 // PAGE


def resident_pages(path):
    """One bool per page of the file: is it in the page cache. Mapping reads nothing."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = LIBC.mmap(None, size, PROT_READ, MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vec = (ctypes.c_ubyte * (-(-size // PAGE)))()
            if LIBC.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return [bool(byte & 1) for byte in vec]
        finally:
            LIBC.munmap(addr, size)
    finally:
        os.close(fd)


@pytest.fixture
def plenty_of_memory(monkeypatch):
    monkeypatch.setattr(file_backend, "mem_available", lambda: 64 * GiB)


def save(store, size):
    store.save("image", io.BytesIO(os.urandom(size)))
    return resident_pages(store.root / "image")


def test_an_upload_keeps_its_tail_cached_and_evicts_everything_before_it(tmp_path,
                                                                         plenty_of_memory):
    keep = 2 * WRITE_BEHIND
    size = 6 * WRITE_BEHIND + 12345  # an odd end: the kept tail starts inside a page
    store = FileStore("disk", root=tmp_path, cache_tail=keep)

    resident = save(store, size)

    first_kept = (size - keep) // PAGE
    assert not any(resident[:first_kept - FOLIO])
    assert all(resident[first_kept:])


def test_an_image_no_larger_than_the_tail_stays_cached_whole(tmp_path, plenty_of_memory):
    store = FileStore("disk", root=tmp_path, cache_tail=4 * WRITE_BEHIND)

    resident = save(store, 3 * WRITE_BEHIND)

    assert all(resident)


def test_available_memory_bounds_the_tail(tmp_path, monkeypatch):
    # With 8 windows available the store may keep an eighth of it: one window, not the
    # default tail.
    monkeypatch.setattr(file_backend, "mem_available", lambda: 8 * WRITE_BEHIND)
    store = FileStore("disk", root=tmp_path)
    size = 4 * WRITE_BEHIND

    resident = save(store, size)

    first_kept = (size - WRITE_BEHIND) // PAGE
    assert not any(resident[:first_kept - FOLIO])
    assert all(resident[first_kept:])


def test_a_tail_of_zero_evicts_the_whole_upload(tmp_path, plenty_of_memory):
    store = FileStore("disk", root=tmp_path, cache_tail=0)

    assert not any(save(store, 3 * WRITE_BEHIND + 100))


def test_the_budget_is_the_tail_or_a_share_of_available_memory_whichever_is_less():
    assert cache_budget(CACHE_TAIL, available=24 * GiB) == CACHE_TAIL
    assert cache_budget(CACHE_TAIL, available=1 * GiB) == GiB // 8
    assert cache_budget(CACHE_TAIL, available=0) == 0
    # Whole pages: the kernel caches and evicts nothing smaller.
    assert cache_budget(10**6, available=64 * GiB) == 10**6 - 10**6 % PAGE


def test_without_a_memory_figure_the_budget_is_the_configured_tail(monkeypatch):
    monkeypatch.setattr(file_backend, "mem_available", lambda: None)

    assert cache_budget(3 * WRITE_BEHIND) == 3 * WRITE_BEHIND


def test_an_upload_never_evicts_the_newest_window_or_the_tail_while_it_runs(tmp_path,
                                                                            monkeypatch):
    keep = 3 * WRITE_BEHIND
    evicted = []
    monkeypatch.setattr(file_backend.os, "posix_fadvise",
                        lambda fd, offset, length, advice: evicted.append((offset, length)))
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        behind = WriteBehind(fd, keep)
        for written in range(2**20, 12 * WRITE_BEHIND + 1, 2**20):
            os.write(fd, b"\0" * 2**20)
            behind.wrote(written)
            for offset, length in evicted:
                # Writeback of the window before the newest has been started a window
                # ago; nothing newer, and nothing of the tail, is ever dropped.
                assert offset + length <= written - WRITE_BEHIND - keep
        assert evicted, "a long upload evicts as it goes"
        evicted.clear()
        behind.done(12 * WRITE_BEHIND)
    finally:
        os.close(fd)
    assert evicted == [(0, 12 * WRITE_BEHIND - keep)]


def test_the_image_is_on_disk_before_anything_is_evicted_at_the_end(tmp_path, monkeypatch,
                                                                    plenty_of_memory):
    calls = []
    monkeypatch.setattr(file_backend.os, "fdatasync", lambda fd: calls.append("fdatasync"))
    monkeypatch.setattr(file_backend.os, "posix_fadvise",
                        lambda fd, offset, length, advice: calls.append("evict"))
    store = FileStore("disk", root=tmp_path, cache_tail=WRITE_BEHIND)

    store.save("image", io.BytesIO(b"\0" * (2 * WRITE_BEHIND)))

    assert calls == ["fdatasync", "evict"]


@pytest.mark.parametrize("value", [-1, "268435456", True, 1.5])
def test_cache_tail_must_be_a_whole_number_of_bytes(tmp_path, value):
    with pytest.raises(ImproperlyConfigured, match="cache_tail"):
        FileStore("disk", root=tmp_path, cache_tail=value)


def test_info_shows_the_tail(tmp_path):
    assert FileStore("disk", root=tmp_path, cache_tail=WRITE_BEHIND).info()["cache_tail"] == \
        WRITE_BEHIND


def test_the_portal_configuration_accepts_cache_tail(tmp_path):
    import tomllib

    from stores import config

    text = f'[stores.disk]\nbackend = "file"\nroot = "{tmp_path}"\ncache_tail = 0\n'
    result = config.parse(tomllib.loads(text), environ={}, base_dir=tmp_path)

    assert result["STORES"]["disk"]["OPTIONS"]["cache_tail"] == 0
