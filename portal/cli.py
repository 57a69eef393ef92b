"""The `image-portal` command of an installed package.

    image-portal serve [gunicorn options]   the web server (static files collected first)
    image-portal worker [celery options]    a Celery worker that also runs the schedule
    image-portal <command> ...              any manage.py command: migrate, ensure_admin, ...
"""
import os
import sys

# Workers, threads and timeout come from portal/gunicorn_conf.py (WEB_CONCURRENCY, WEB_THREADS),
# as for scripts/run. Options given on the command line come later and win.
SERVE_DEFAULTS = ["--access-logfile", "-"]
# gunicorn adds each --bind to the others instead of replacing them.
DEFAULT_BIND = ["--bind", "127.0.0.1:8000"]


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    command = argv[1] if len(argv) > 1 else "help"
    if command == "serve":
        return serve(argv[2:])
    if command == "worker":
        return worker(argv[2:])
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0


def serve(options):
    """Collect the static files into the data folder, then run gunicorn in this process."""
    from django.core.management import execute_from_command_line
    from gunicorn.app.wsgiapp import run

    # whitenoise serves STATIC_ROOT, which lives in the data folder, not in the package.
    execute_from_command_line(["image-portal", "collectstatic", "--noinput", "-v0"])
    bind = [] if any(option.startswith(("-b", "--bind")) for option in options) else DEFAULT_BIND
    sys.argv = ["image-portal serve", "-c", "python:portal.gunicorn_conf", *SERVE_DEFAULTS,
                *bind, *options, "portal.wsgi"]
    return run()


def worker(options):
    """A Celery worker with beat (audits, the scrubber): what one machine needs."""
    from celery.bin.celery import main as celery

    sys.argv = ["image-portal worker", "-A", "portal", "worker", "--beat",
                "--loglevel=WARNING", *options]
    return celery()
