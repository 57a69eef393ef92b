"""CPU priority of bulk data work, so that short requests are answered while images stream.

Forty uploads at once keep the CPUs busy with hashing and copying for minutes; at the same
priority a list request gets a fortieth of a CPU and waits for seconds. On Linux a thread's
nice value is its own (setpriority with its thread id), so a thread that moves image data
can run below the rest of the process. Only while more uploads run than there are CPUs
(Store.save asks HashingReader.crowded()): alone, an upload lowered this way loses a tenth
of its speed to whatever else runs, a local client included.
"""
import os
import threading
from contextlib import contextmanager

# How much nicer bulk work runs than the process (a nice increment, 0 to 19).
BULK_NICENESS = 10

_restorable = None


def can_restore():
    """Whether a thread may go back to its priority after lowering it.

    Raising a nice value needs no privilege, lowering it does (root, CAP_SYS_NICE or an
    RLIMIT_NICE such as systemd's LimitNICE=). Tried once, in a thread of its own, since a
    thread that could not go back would serve every later request at the lower priority.
    """
    global _restorable
    if _restorable is None:
        result = []

        def probe():
            try:
                nice = _get_nice()
                _set_nice(nice + 1)
                _set_nice(nice)
                result.append(True)
            except OSError:
                result.append(False)

        thread = threading.Thread(target=probe, name="nice-probe")
        thread.start()
        thread.join()
        _restorable = result == [True]
    return _restorable


@contextmanager
def bulk():
    """Run the calling thread's block at the bulk priority, if it can be restored after.

    For request threads, which gunicorn reuses: without the right to go back, the block runs
    at the thread's own priority.
    """
    if BULK_NICENESS <= 0 or not can_restore():
        yield
        return
    nice = _get_nice()
    _set_nice(nice + BULK_NICENESS)
    try:
        yield
    finally:
        _set_nice(nice)


def _get_nice():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _set_nice(value):
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, value))
