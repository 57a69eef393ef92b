"""Streams that misbehave the way clients do."""
import io

from stores.exceptions import StreamError


class FailingStream:
    """Yields `good` bytes, then fails as a client that disconnects would."""

    def __init__(self, good):
        self._data = io.BytesIO(good)

    def read(self, n=-1):
        chunk = self._data.read(n)
        if not chunk:
            raise StreamError("client went away")
        return chunk
