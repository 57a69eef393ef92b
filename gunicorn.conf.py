"""gunicorn reads ./gunicorn.conf.py by default: a `gunicorn portal.wsgi` started in the checkout
gets the settings `image-portal serve` passes as `-c python:portal.gunicorn_conf`.
A setting added there is named here too."""
from portal.gunicorn_conf import (  # noqa: F401
    control_socket_disable, header_map, keepalive, on_starting, post_fork, post_worker_init,
    threads, timeout, worker_class, worker_connections, workers)
