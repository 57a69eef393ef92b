"""gunicorn settings: `image-portal serve` passes them as `-c python:portal.gunicorn_conf`, and
./gunicorn.conf.py imports them for a `gunicorn portal.wsgi` started in the checkout.

The Image API v1 (the seed story's `glance --os-image-api-version 1 image-create ...`)
sends headers with underscores: x-image-meta-disk_format, -container_format, -is_public,
-min_ram, -min_disk. gunicorn 22+ drops such headers unless told to keep them; "dangerous"
maps them to the same names as their dashed spelling, as WSGI servers always did. The
portal trusts no header a proxy would set (no X-Forwarded-*), so the ambiguity costs
nothing here; a proxy in front needs to pass them too (nginx: underscores_in_headers on).
"""
import os

header_map = "dangerous"

# gthread workers: a long upload runs in a thread while the worker process keeps telling
# the arbiter it is alive, so the timeout does not cut a 50 GiB transfer.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("WEB_THREADS", "16"))
timeout = 60
# A worker takes no more connections than it has threads: a connection it cannot serve at
# once is left to a worker that can, instead of waiting in this one's queue behind uploads
# that may run for minutes. With no connection left over for keep-alive, each response
# closes its connection (a proxy in front keeps its own to the clients).
worker_connections = threads
keepalive = 0


def on_starting(server):
    """Keep the connection cap equal to the threads when --threads is given on the command line."""
    cfg = server.cfg
    if cfg.worker_connections == worker_connections and cfg.threads != threads:
        cfg.set("worker_connections", cfg.threads)


# gunicorn 27's control interface listens on ~/.gunicorn/gunicorn.ctl, one path per user:
# two portals of one user (a web node and a test run, two instances) would take each other's.
# The portal is driven by signals (TERM, HUP), as gunicorn always was.
control_socket_disable = True


def post_fork(server, worker):
    """Keep glibc from handing each 1 MiB body buffer back to the kernel.

    By default glibc serves a 1 MiB malloc with mmap and unmaps it on free, so every chunk
    of an upload faults in fresh pages (20,000 to 370,000 minor faults per GiB measured on a
    VM that returns free memory to its host). A 16 MiB mmap threshold keeps those buffers
    in the heap, and a 32 MiB trim threshold keeps the heap from shrinking between chunks;
    setting only the trim threshold disables glibc's adaptive threshold and is worse.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "mallopt"):
        libc.mallopt(-3, 16 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 32 * 2**20)  # M_TRIM_THRESHOLD


def post_worker_init(worker):
    """On SIGTERM, roll back the uploads that cannot end before the worker is killed.

    gunicorn kills a worker whose requests outlast graceful_timeout; images/api/stopping.py
    cuts such uploads off a few seconds earlier, so that each removes its partial object and
    puts its image back to `queued` instead of leaving it in `saving`.
    """
    import signal

    from images.api.stopping import stop_after

    handle_exit = worker.handle_exit

    def on_sigterm(sig, frame):
        stop_after(worker.cfg.graceful_timeout)
        handle_exit(sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)
    # The loaded application's objects live as long as the worker: out of the collector's
    # sight, a full collection no longer walks them. A page of 1,000 images allocates enough
    # to set off several, which took up to a third of its time.
    import gc

    gc.collect()
    gc.freeze()
