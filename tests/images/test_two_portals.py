"""Two portals on one database and one set of stores, writing and scrubbing at the same time,
beside a writer killed mid-upload and an object someone else wrote: nothing is lost, and no
leftover stays once the writes have stopped.

Each portal process is a real `manage.py shell` on a fresh PostgreSQL database; the scrubber
runs in a loop with a `leftover_age` of one second, far shorter than any real one, so that it
sees every write while it is under way.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

from tests.images.test_glance_db import ROOT, manage
from tests.images.test_killed_writer import start_writer, wait_for
from tests.multinode.conftest import postgres_database  # noqa: F401 (a fixture)

MiB = 2**20
FOREIGN = "6e2d1b0c-9a8f-4e7d-b6c5-a4f3e2d1c0b9"

WRITER = """
import io, json, os, time
from images import services
from images.services.records import image_create

class Slow(io.BytesIO):
    def read(self, n=-1):
        time.sleep(0.02)
        return super().read(min(n, 2**18))

ids = []
for number in range(6):
    image = image_create(owner="p{portal}", name=f"{portal}-{{number}}", disk_format="raw",
                         container_format="bare")
    services.image_upload(image=image, stream=Slow(os.urandom(2 * 2**20 + number)))
    services.location_copy(image=image, store_name="cheap")
    ids.append(image.id)
print("IDS", json.dumps(ids))
"""

SCRUBBER = """
import time
from images.services.audit import audit_run
from images.services.scrubber import scrub_run
end = time.monotonic() + {seconds}
runs = 0
while time.monotonic() < end:
    scrub_run(leftovers=True)
    audit_run(record=False)
    runs += 1
print("RUNS", runs)
"""

FINAL = """
import json
from images.models import Image, StoreWrite
from images.services.audit import audit_run
from images.services.scrubber import scrub_run
report = scrub_run(leftovers=True)
findings = audit_run(deep=True, record=False)
print("RESULT", json.dumps({
    "removed": [location for _, _, location in report.leftovers],
    "findings": sorted({(f.finding, f.image_id or "") for f in findings}),
    "open_rows": StoreWrite.objects.filter(closed_at=None).count(),
    "images": {i.id: (i.status, i.locations.count()) for i in Image.objects.all()},
}))
"""


def shell(env, script):
    return subprocess.Popen([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def output(proc, tag, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    line = next(line for line in out.splitlines() if line.startswith(tag + " "))
    return json.loads(line.split(" ", 1)[1])


def test_two_portals_writing_and_scrubbing_at_once_lose_nothing_and_leave_no_leftover(
        tmp_path, postgres_database):  # noqa: F811
    roots = {name: tmp_path / name for name in ("fast", "cheap")}
    for root in roots.values():
        root.mkdir()
    foreign = roots["fast"] / FOREIGN
    foreign.write_bytes(b"someone else's")
    config = tmp_path / "portal.toml"
    config.write_text('default_store = "fast"\nleftover_age = 1\nstale_upload_age = 1\n' + "".join(
        f'[stores.{name}]\nbackend = "file"\nroot = "{root}"\n' for name, root in roots.items()))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "GLANCE_DATABASE_URL")}
    env.update(DATABASE_URL=postgres_database, PORTAL_CONFIG=str(config),
               PORTAL_DATA_DIR=str(tmp_path / "data"))
    manage(env, "migrate", "--noinput", "-v0")

    killed = str(uuid.uuid4())
    manage(env, "image_create", "--owner", "pk", "--id", killed, "--disk-format", "raw",
           "--container-format", "bare")
    victim = start_writer(env, killed, "fast", stall=2 * MiB)
    wait_for(lambda: (roots["fast"] / killed).exists()
             and (roots["fast"] / killed).stat().st_size >= 2 * MiB, "the victim's 2 MiB")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    scrubber = shell(env, SCRUBBER.format(seconds=12))
    writers = [shell(env, WRITER.format(portal=name)) for name in ("a", "b")]
    written = [image_id for writer in writers for image_id in output(writer, "IDS")]
    assert output(scrubber, "RUNS") > 1
    time.sleep(1.5)  # past leftover_age: whatever is still open is a leftover now
    result = output(shell(env, FINAL), "RESULT")

    assert len(written) == 12
    assert all(result["images"][image_id] == ["active", 2] for image_id in written)
    assert {image_id: finding for finding, image_id in result["findings"]} == {
        **{image_id: "ok" for image_id in written}, "": "foreign"}
    assert result["open_rows"] == 0
    assert foreign.read_bytes() == b"someone else's"
    assert not (roots["fast"] / killed).exists()
    assert sorted(os.listdir(roots["cheap"])) == sorted(written)
