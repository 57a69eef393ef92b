"""Readers that wrap a byte stream on its way into a store: size limits and hashing.

Each reader has the `read(n)` that Django's File, swiftclient and boto3 call, sees every byte
exactly once, and keeps nothing but the chunks in flight.
"""
import hashlib
import os
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from stores.exceptions import SizeCapExceeded, SizeMismatch


class SizeLimitedReader:
    """Stops a stream that passes `cap` bytes, or that disagrees with `expected_size`.

    The check runs on every read, so an oversized upload is stopped while it streams,
    before the store has received more than one chunk past the limit.
    """

    def __init__(self, stream, *, expected_size=None, cap):
        self._stream = stream
        self.expected_size = expected_size
        self.cap = cap
        self.size = 0

    def read(self, n=-1):
        chunk = self._stream.read(n)
        self.size += len(chunk)
        if self.size > self.cap:
            raise SizeCapExceeded(self.cap)
        if self.expected_size is not None:
            if self.size > self.expected_size or (not chunk and self.size != self.expected_size):
                raise SizeMismatch(self.expected_size, self.size)
        return chunk


class HashingReader:
    """Hashes every chunk read through it, each algorithm in its own thread (or, once as many
    readers as CPUs are open in the process, in the caller's).

    md5 and sha512 each run at roughly the speed of the disk here; one after the other they
    halve the upload rate. hashlib releases the GIL on buffers over 2 KiB, so a thread per
    algorithm hashes chunk k while the caller writes chunk k and reads chunk k+1. Each
    thread updates its hasher in read order (a one-thread executor is FIFO), and at most
    `max_pending` chunks per algorithm wait, which bounds the memory held.
    """

    # Readers of this process hashing at once. Beyond one per CPU, threads of their own add
    # no speed (the CPUs are full) but cost a hand-off per chunk under the GIL, which a short
    # request then waits for: such a reader hashes in the caller's thread, and Store.save
    # runs it at the bulk priority (stores/priority.py). A reader left unclosed drops out of
    # the set when it is collected.
    _open = weakref.WeakSet()
    _open_lock = threading.Lock()
    threaded_up_to = os.cpu_count() or 1

    def __init__(self, stream, algorithms=("md5", "sha512"), *, max_pending=4):
        self._stream = stream
        self._hashers = {name: hashlib.new(name) for name in algorithms}
        with HashingReader._open_lock:
            threaded = len(HashingReader._open) < self.threaded_up_to
            HashingReader._open.add(self)
        self._pools = {name: ThreadPoolExecutor(1, thread_name_prefix=f"hash-{name}")
                       for name in algorithms} if threaded else {}
        self._pending = deque()
        self._max_pending = max_pending * len(algorithms)
        self.size = 0

    @classmethod
    def crowded(cls):
        """Whether more readers hash at once in this process than it has CPUs."""
        with cls._open_lock:
            return len(cls._open) > cls.threaded_up_to

    def read(self, n=-1):
        chunk = self._stream.read(n)
        if chunk:
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)  # a reused buffer would change under the hashing thread
            self.size += len(chunk)
            for name, hasher in self._hashers.items():
                if not self._pools:
                    hasher.update(chunk)
                    continue
                self._pending.append(self._pools[name].submit(hasher.update, chunk))
            while len(self._pending) > self._max_pending:
                self._pending.popleft().result()
        return chunk

    def hexdigests(self):
        """Wait for the hashing threads and return {algorithm: hex digest}."""
        while self._pending:
            self._pending.popleft().result()
        self.close()
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}

    def close(self):
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        with HashingReader._open_lock:
            HashingReader._open.discard(self)


def iter_chunks(reader, chunk_size, *, length=None):
    """Yield chunks from a reader with `read(n)`, up to `length` bytes when given."""
    remaining = length
    while remaining is None or remaining > 0:
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        chunk = reader.read(want)
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk
