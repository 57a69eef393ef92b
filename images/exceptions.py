"""Errors of the image services; each carries the HTTP status the API answers with."""
from stores.exceptions import StreamError


class ImageError(Exception):
    status = 400
    title = "Bad Request"
    headers = {}

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Invalid(ImageError):
    status, title = 400, "Bad Request"


class Forbidden(ImageError):
    status, title = 403, "Forbidden"


class NotFound(ImageError):
    status, title = 404, "Not Found"


class Conflict(ImageError):
    status, title = 409, "Conflict"


class Gone(ImageError):
    status, title = 410, "Gone"


class TooLarge(ImageError):
    status, title = 413, "Request Entity Too Large"


class QuotaExceeded(TooLarge, StreamError):
    """A project's limit (image_size_total, ...) would be passed; says the limit and usage.

    Also a StreamError: raised from inside a stream, it passes through a store's save()
    as it is (the store removes its partial object) instead of becoming a StoreError.
    """

    def __init__(self, message, *, resource, limit, usage):
        super().__init__(message)
        self.resource, self.limit, self.usage = resource, limit, usage


class NoData(ImageError):
    status, title = 204, "No Content"


class StoreFailed(ImageError):
    status, title = 503, "Service Unavailable"


class NotSatisfiable(ImageError):
    status, title = 416, "Requested Range Not Satisfiable"


class UnsupportedContent(ImageError):
    """The data is not in its disk_format, or is an unsafe image (Glance answers 415)."""
    status, title = 415, "Unsupported Media Type"
