"""Celery signals that follow a request into its tasks, in the web process and the worker:
the request's id, user and project travel as message headers (portal/logs.py), and each
task run is counted for /metrics (portal/metrics.py)."""
from celery import signals

from portal import logs, metrics

# The context a worker bound for each running task, by task id, to unbind when it ends.
_bound = {}


def _publishing(headers=None, **_):
    if headers is not None:
        logs.task_headers(headers)


def _starting(task_id=None, task=None, **kwargs):
    _bound[task_id] = logs.bind(logs.task_context(task.request))
    metrics.task_started(task)


def _ended(task_id=None, task=None, state=None, **_):
    metrics.task_ended(task, state=state)
    token = _bound.pop(task_id, None)
    if token is not None:
        logs.unbind(token)


def connect():
    # dispatch_uid: connected once per process, however often the apps are set up.
    signals.before_task_publish.connect(_publishing, weak=False, dispatch_uid="portal-logs")
    signals.task_prerun.connect(_starting, weak=False, dispatch_uid="portal-prerun")
    signals.task_postrun.connect(_ended, weak=False, dispatch_uid="portal-postrun")
