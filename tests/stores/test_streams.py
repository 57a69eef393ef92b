import gc
import hashlib
import io
import os
import threading

import pytest

from stores.exceptions import SizeCapExceeded, SizeMismatch
from stores.streams import HashingReader, SizeLimitedReader, iter_chunks


def drain(reader, n=65536):
    while reader.read(n):
        pass


def test_hashing_reader_digests_equal_hashlib_over_the_same_bytes():
    data = os.urandom(5 * 2**20 + 3)
    reader = HashingReader(io.BytesIO(data), ("md5", "sha512"))
    out = b"".join(iter(lambda: reader.read(2**20), b""))
    digests = reader.hexdigests()
    assert out == data
    assert reader.size == len(data)
    assert digests == {"md5": hashlib.md5(data).hexdigest(),
                       "sha512": hashlib.sha512(data).hexdigest()}


def test_hashing_reader_hashes_a_reused_buffer_as_it_was_when_read():
    class ReusingStream:
        """Returns the same bytearray each time, overwritten, as some servers do."""

        def __init__(self):
            self.buf = bytearray(4096)
            self.left = 3

        def read(self, n):
            if not self.left:
                return b""
            self.left -= 1
            self.buf[:] = bytes([self.left]) * 4096
            return self.buf

    reader = HashingReader(ReusingStream(), ("md5",))
    drain(reader)
    expected = hashlib.md5(b"\x02" * 4096 + b"\x01" * 4096 + b"\x00" * 4096).hexdigest()
    assert reader.hexdigests()["md5"] == expected


def test_size_limited_reader_stops_a_stream_past_the_cap():
    reader = SizeLimitedReader(io.BytesIO(b"x" * 1000), cap=999)
    with pytest.raises(SizeCapExceeded):
        drain(reader, 100)
    assert reader.size <= 1000


def test_size_limited_reader_accepts_exactly_the_cap():
    reader = SizeLimitedReader(io.BytesIO(b"x" * 1000), cap=1000)
    drain(reader, 100)
    assert reader.size == 1000


@pytest.mark.parametrize("announced", [999, 1001])
def test_size_limited_reader_refuses_data_that_differs_from_the_announced_size(announced):
    reader = SizeLimitedReader(io.BytesIO(b"x" * 1000), expected_size=announced, cap=10**9)
    with pytest.raises(SizeMismatch) as info:
        drain(reader, 100)
    assert info.value.expected == announced


def test_iter_chunks_stops_at_the_length():
    chunks = list(iter_chunks(io.BytesIO(b"abcdefghij"), 3, length=7))
    assert chunks == [b"abc", b"def", b"g"]


def hash_threads():
    return {t for t in threading.enumerate() if t.name.startswith("hash-")}


def test_a_reader_beyond_one_per_cpu_hashes_in_the_callers_thread_with_the_same_digests(
        monkeypatch):
    monkeypatch.setattr(HashingReader, "threaded_up_to", 1)
    data = os.urandom(3 * 2**20 + 5)
    first = HashingReader(io.BytesIO(data), ("md5", "sha512"))
    try:
        first.read(2**20)
        threads_of_the_first = hash_threads()
        assert threads_of_the_first
        second = HashingReader(io.BytesIO(data), ("md5", "sha512"))
        drain(second, 2**20)
        assert hash_threads() == threads_of_the_first
        assert second.hexdigests() == {"md5": hashlib.md5(data).hexdigest(),
                                       "sha512": hashlib.sha512(data).hexdigest()}
    finally:
        first.hexdigests()
    # Both closed: the next reader has its threads again.
    third = HashingReader(io.BytesIO(data), ("md5", "sha512"))
    try:
        third.read(2**20)
        assert hash_threads() - threads_of_the_first
    finally:
        third.hexdigests()


def test_a_reader_never_closed_gives_its_place_back_once_collected(monkeypatch):
    monkeypatch.setattr(HashingReader, "threaded_up_to", 1)
    forgotten = HashingReader(io.BytesIO(b"x" * 4096), ())
    del forgotten
    gc.collect()
    reader = HashingReader(io.BytesIO(os.urandom(2**20)), ("md5",))
    try:
        reader.read(2**20)
        assert any(t.name.startswith("hash-md5") for t in hash_threads())
    finally:
        reader.hexdigests()
