"""Errors of the stores. Drivers turn their backend's errors into these."""


class StoreError(Exception):
    """A store could not do what was asked. `store` names it, when known."""

    def __init__(self, message, *, store=None):
        super().__init__(message)
        self.store = store


class UnknownStore(StoreError):
    def __init__(self, name, known):
        super().__init__(f"Unknown store '{name}'; known stores: {', '.join(known)}", store=name)
        self.known = list(known)


class StoreUnavailable(StoreError):
    """The store is down or refused the operation: not the same as a missing object."""


class StoreReadOnly(StoreError):
    """The store only serves data (an http store)."""


class ObjectNotFound(StoreError):
    """No object at that location."""


class ObjectExists(StoreError):
    """An object of that name is already in the store; it was left as it was."""


class InvalidLocation(StoreError):
    """A URI that is malformed, or that points outside the store asked to open it."""


class StreamError(Exception):
    """The data stream itself was wrong: too big, or not the size the client announced."""


class SizeCapExceeded(StreamError):
    def __init__(self, cap):
        super().__init__(f"Image exceeds the size cap of {cap} bytes")
        self.cap = cap


class SizeMismatch(StreamError):
    def __init__(self, expected, received):
        more = "more" if received > expected else "fewer"
        super().__init__(f"Image data has {more} bytes than the announced size of {expected} "
                         f"(received {received})")
        self.expected = expected
        self.received = received
