"""A process killed mid-write (SIGKILL: the OOM killer, a lost node): its journal row lets
the scrubber remove exactly the partial object it left, and its segments, nothing else.

The writer is a real `manage.py shell` process uploading from a stream that stalls after a
few MiB; the portal runs on its own SQLite file, as `make run` does, so the killed process's
committed journal row is what the scrubber reads afterwards.
"""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.images.test_glance_db import ROOT, manage, portal_env

MiB = 2**20
FOREIGN_KEY = "5b0f6f0e-8d7a-4a59-9c1e-3f7b3c0a9e42"

WRITER = """
import io, time
from images import services
from images.models import Image
image = Image.objects.get(pk="{image_id}")

class Stalling(io.RawIOBase):
    sent = 0
    def readable(self):
        return True
    def read(self, n=-1):
        if self.sent >= {stall}:
            time.sleep(3600)  # the process is killed here
        self.sent += {chunk}
        return b"x" * {chunk}

services.image_upload(image=image, stream=Stalling(), store_name="{store}")
"""


def start_writer(env, image_id, store, *, stall, chunk=MiB):
    script = WRITER.format(stall=stall, chunk=chunk, store=store, image_id=image_id)
    return subprocess.Popen([sys.executable, "manage.py", "shell", "-c", script],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def new_image(env):
    image_id = str(uuid.uuid4())
    manage(env, "image_create", "--owner", "p1", "--id", image_id, "--disk-format", "raw",
           "--container-format", "bare")
    return image_id


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def scrub(env):
    return manage(env, "scrub").stdout


def image_status(env, image_id):
    return manage(env, "shell", "-c", "from images.models import Image; "
                  f"print(Image.objects.get(pk='{image_id}').status)").stdout.split()[-1]


@pytest.fixture
def portal(tmp_path):
    """A portal on its own SQLite file with a file store beside a foreign object, scrubbing
    leftovers and stale uploads at once."""
    root = tmp_path / "store"
    root.mkdir()
    foreign = root / FOREIGN_KEY
    foreign.write_bytes(b"someone else's image")
    old = time.time() - 86400
    os.utime(foreign, (old, old))
    config = tmp_path / "portal.toml"
    config.write_text('default_store = "local"\nleftover_age = 0\nstale_upload_age = 0\n'
                      f'[stores.local]\nbackend = "file"\nroot = "{root}"\n')
    env = portal_env(tmp_path, "")
    del env["GLANCE_DATABASE_URL"]
    env["PORTAL_CONFIG"] = str(config)
    manage(env, "migrate", "--noinput", "-v0")
    return env, root, foreign


def test_a_killed_upload_leaves_a_partial_file_that_the_scrubber_alone_removes(portal):
    env, root, foreign = portal
    image_id = new_image(env)
    writer = start_writer(env, image_id, "local", stall=4 * MiB)
    partial = root / image_id
    wait_for(lambda: partial.exists() and partial.stat().st_size >= 4 * MiB, "4 MiB written")
    kill(writer)
    assert image_status(env, image_id) == "saving"
    out = scrub(env)
    assert f"Removed leftover file://{partial}" in out, out
    assert sorted(os.listdir(root)) == [FOREIGN_KEY]
    assert foreign.read_bytes() == b"someone else's image"
    assert image_status(env, image_id) == "queued"


@pytest.mark.swift
def test_a_killed_upload_into_swift_leaves_segments_that_the_scrubber_alone_removes(
        tmp_path, swift_env, swift, swift_container):
    from tests.stores.glance_dlo import glance_dlo_write

    segments_container = f"{swift_container}_segments"
    swift.put_container(swift_container)
    swift.put_container(segments_container)
    # Someone else's objects in both containers: a Glance large object and a stray segment.
    glance_id = str(uuid.uuid4())
    glance_dlo_write(swift, swift_container, glance_id, os.urandom(3 * MiB), chunk_size=MiB)
    swift.put_object(segments_container, f"{FOREIGN_KEY}/00000001", b"not ours")
    before = {(c, o["name"], o["hash"]) for c in (swift_container, segments_container)
              for o in swift.get_container(c, full_listing=True)[1]}
    config = tmp_path / "portal.toml"
    config.write_text(
        'default_store = "swift"\nleftover_age = 0\nstale_upload_age = 0\n'
        f'[stores.swift]\nbackend = "swift"\nauth_url = "{swift_env["SWIFT_AUTH_URL"]}"\n'
        f'user = "{swift_env["SWIFT_USER"]}"\nkey = "{swift_env["SWIFT_KEY"]}"\n'
        f'container = "{swift_container}"\nreference = "ref1"\n'
        f'large_object_size = {MiB}\nsegment_size = {MiB}\n')
    env = portal_env(tmp_path, "")
    del env["GLANCE_DATABASE_URL"]
    env["PORTAL_CONFIG"] = str(config)
    manage(env, "migrate", "--noinput", "-v0")
    image_id = new_image(env)
    writer = start_writer(env, image_id, "swift", stall=4 * MiB, chunk=MiB // 4)

    def ours():
        return [o["name"] for o in swift.get_container(
            segments_container, prefix=f"{image_id}/", full_listing=True)[1]]

    wait_for(lambda: len(ours()) >= 2, "two segments written")
    kill(writer)
    assert ours()
    out = scrub(env)
    assert "Removed leftover" in out, out
    assert ours() == []
    after = {(c, o["name"], o["hash"]) for c in (swift_container, segments_container)
             for o in swift.get_container(c, full_listing=True)[1]}
    assert after == before
