"""Bulk data work runs below the rest of the process, so short requests are answered meanwhile."""
import io
import os
import threading

import pytest

from stores import priority
from stores.streams import HashingReader


def nice_of_this_thread():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def expected_bulk_nice(base):
    return min(19, base + priority.BULK_NICENESS)


@pytest.fixture
def base_nice():
    """The nice value the runner has, which every new thread starts from."""
    return nice_of_this_thread()


def in_fresh_thread(action):
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


def test_a_store_reads_an_upload_at_the_bulk_priority_and_gives_the_thread_its_own_back(
        file_store, base_nice):
    if not priority.can_restore():
        pytest.skip("this process may not lower a nice value it raised")
    stream = NiceRecordingStream(os.urandom(3 * 2**20))

    def save():
        file_store.save("11111111-2222-3333-4444-555555555555", stream)
        return nice_of_this_thread()

    after = in_fresh_thread(save)
    assert stream.seen == {expected_bulk_nice(base_nice)}
    assert after == base_nice


def test_a_failed_save_also_gives_the_thread_its_priority_back(file_store, base_nice):
    if not priority.can_restore():
        pytest.skip("this process may not lower a nice value it raised")

    class Broken:
        def read(self, n=-1):
            raise OSError("client went away")

    def save():
        with pytest.raises(Exception):
            file_store.save("11111111-2222-3333-4444-666666666666", Broken())
        return nice_of_this_thread()

    assert in_fresh_thread(save) == base_nice
    assert not (file_store.root / "11111111-2222-3333-4444-666666666666").exists()


def test_hashing_threads_run_at_the_bulk_priority_and_the_caller_at_its_own(base_nice):
    reader = HashingReader(io.BytesIO(os.urandom(2**20)), ("md5", "sha512"))
    try:
        reader.read(2**20)
        hashing = [t for t in threading.enumerate() if t.name.startswith("hash-")]
        assert {t.name.split("_")[0] for t in hashing} >= {"hash-md5", "hash-sha512"}
        assert {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in hashing} == \
            {expected_bulk_nice(base_nice)}
        assert nice_of_this_thread() == base_nice
    finally:
        reader.hexdigests()


def test_without_the_right_to_go_back_a_request_thread_keeps_its_priority(
        monkeypatch, base_nice):
    monkeypatch.setattr(priority, "_restorable", False)

    def inside():
        with priority.bulk():
            return nice_of_this_thread()

    assert in_fresh_thread(inside) == base_nice
