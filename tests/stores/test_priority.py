"""Bulk data work runs below the rest of the process while more uploads run than CPUs, so
short requests are answered meanwhile; an upload alone keeps its thread's priority."""
import io
import os
import threading

import pytest

from stores import priority
from stores.streams import HashingReader

KEY = "11111111-2222-3333-4444-555555555555"


def nice_of_this_thread():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.fixture
def base_nice():
    """The nice value the runner has, which every new thread starts from."""
    return nice_of_this_thread()


@pytest.fixture
def restorable():
    if not priority.can_restore():
        pytest.skip("this process may not lower a nice value it raised")


def in_fresh_thread(action):
    """Run `action` in a thread of its own, so that a failure cannot leave the runner lowered."""
    result, errors = [], []

    def run():
        try:
            result.append(action())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


class NiceRecordingStream:
    """A stream that notes the nice value of the thread reading it."""

    def __init__(self, data):
        self._data = io.BytesIO(data)
        self.seen = set()

    def read(self, n=-1):
        self.seen.add(nice_of_this_thread())
        return self._data.read(n)


def save_through_hashing(store, key, stream):
    """What an upload does: the store reads a HashingReader over the client's stream."""
    def save():
        hashing = HashingReader(stream, ("md5", "sha512"))
        try:
            store.save(key, hashing)
        finally:
            hashing.close()
        return nice_of_this_thread()
    return in_fresh_thread(save)


def test_with_more_uploads_than_cpus_a_save_streams_at_the_bulk_priority_then_goes_back(
        file_store, base_nice, restorable, monkeypatch):
    monkeypatch.setattr(HashingReader, "threaded_up_to", 0)
    stream = NiceRecordingStream(os.urandom(3 * 2**20))
    after = save_through_hashing(file_store, KEY, stream)
    assert stream.seen == {min(19, base_nice + priority.BULK_NICENESS)}
    assert after == base_nice


def test_an_upload_alone_streams_at_its_threads_own_priority(
        file_store, base_nice, monkeypatch):
    monkeypatch.setattr(HashingReader, "threaded_up_to", 64)
    stream = NiceRecordingStream(os.urandom(3 * 2**20))
    save_through_hashing(file_store, KEY, stream)
    assert stream.seen == {base_nice}


def test_a_failed_save_also_gives_the_thread_its_priority_back(
        file_store, base_nice, restorable, monkeypatch):
    monkeypatch.setattr(HashingReader, "threaded_up_to", 0)

    class Broken:
        def read(self, n=-1):
            raise OSError("client went away")

    def save():
        hashing = HashingReader(Broken(), ("md5",))
        try:
            with pytest.raises(Exception):
                file_store.save(KEY, hashing)
        finally:
            hashing.close()
        return nice_of_this_thread()

    assert in_fresh_thread(save) == base_nice
    assert not (file_store.root / KEY).exists()


def test_without_the_right_to_go_back_a_request_thread_keeps_its_priority(
        monkeypatch, base_nice):
    monkeypatch.setattr(priority, "_restorable", False)

    def inside():
        with priority.bulk():
            return nice_of_this_thread()

    assert in_fresh_thread(inside) == base_nice
