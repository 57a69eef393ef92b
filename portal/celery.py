"""The Celery app: `celery -A portal worker`. It reads the CELERY_* Django settings."""
import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery warns a worker started as root, which is how containers and `make run` in one usually
# start. The warning guards pickle, which runs code from messages: this app accepts JSON only
# (Celery's default), and with pickle accepted Celery refuses to start as root anyway.
warnings.filterwarnings("ignore", message="You're running the worker with superuser",
                        category=SecurityWarning)
