"""Time image lists over 100,000 images through gunicorn, on SQLite and on PostgreSQL.

    .venv/bin/python bench/listing.py [--images 100000] [--rounds 21] [--database sqlite,postgres]

For each database: a fresh portal (SQLite in a temporary data dir; PostgreSQL in a database of
its own on POSTGRES_URL, default postgres://postgres@127.0.0.1:5432, dropped at the end), the
images inserted with bulk_create (a property, two tags and a location each; a third private
to the caller's project, a third public of other projects, a third other projects' private
ones it must not see), then gunicorn as `make run` starts it (2 gthread workers, 4 threads)
and each case requested `--rounds` times in a row by one client over HTTP, as a non-admin
project member: `GET /v2/images` at limit 25 and 1000, filtered by status, visibility, a
property and a tag, sorted by name and by created_at, a page after a marker; and the
portal's images page with and without a search. Prints the p50 and p95 of each case next to
its target.
"""
import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGETS = {25: 15.0, 1000: 250.0, "html": 100.0}

POPULATE = """
import time, uuid
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from images.models import Image, ImageLocation, ImageProperty, ImageTag
start = time.perf_counter()
count, owner = int({count}), "{owner}"
now = timezone.now()
distros = ("cirros", "ubuntu", "fedora", "debian")
statuses = ["active"] * 8 + ["queued", "deactivated"]
batch = 5000
for first in range(0, count, batch):
    images = []
    for i in range(first, min(first + batch, count)):
        kind = i % 3
        images.append(Image(
            id=str(uuid.UUID(int=i, version=4)), name=f"image-{{(i * 7919) % count:06d}}",
            owner=owner if kind == 0 else f"project-{{i % 50}}", status=statuses[i % 10],
            disk_format="qcow2" if i % 2 else "raw", container_format="bare", size=1000 + i,
            checksum="0" * 32, visibility="public" if kind == 1 else "private",
            created_at=now - timedelta(seconds=i), updated_at=now - timedelta(seconds=i)))
    Image.objects.bulk_create(images)
    ImageProperty.objects.bulk_create([
        ImageProperty(image=im, name="os_distro", value=distros[n % 4], created_at=now)
        for n, im in enumerate(images)])
    ImageTag.objects.bulk_create([
        ImageTag(image=im, value=v, created_at=now) for n, im in enumerate(images)
        for v in ("bench", "gpu" if n % 10 == 0 else "x86_64")])
    ImageLocation.objects.bulk_create([
        ImageLocation(image=im, value=f"file:///srv/images/{{im.id}}",
                      meta_data={{"store": "file"}}, created_at=now) for im in images])
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(Image.objects.count(), round(time.perf_counter() - start, 1))
"""

CASES = [
    ("list", "/v2/images?limit={limit}"),
    ("after a marker", "/v2/images?limit={limit}&marker={marker}"),
    ("status=active", "/v2/images?limit={limit}&status=active"),
    ("visibility=public", "/v2/images?limit={limit}&visibility=public"),
    ("os_distro=ubuntu", "/v2/images?limit={limit}&os_distro=ubuntu"),
    ("tag=gpu", "/v2/images?limit={limit}&tag=gpu"),
    ("sort name asc", "/v2/images?limit={limit}&sort_key=name&sort_dir=asc"),
    ("sort created_at asc", "/v2/images?limit={limit}&sort_key=created_at&sort_dir=asc"),
]
PAGES = [
    ("/images/", "/images/"),
    ("/images/?q=image-0421", "/images/?q=image-0421"),
    ("/images/ sort name", "/images/?sort=name&dir=asc"),
    ("/images/ page 40", "/images/?page=40"),
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def psql(url, sql):
    subprocess.run([sys.executable, "-c", "import sys, psycopg\n"
                    "with psycopg.connect(sys.argv[1], autocommit=True) as c: c.execute(sys.argv[2])",
                    url, sql], check=True)


def timed(session, url, rounds):
    """p50 and p95 in ms of `rounds` requests after one warm-up; the last response."""
    response = session.get(url)
    response.raise_for_status()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = session.get(url)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, response


def sign_in(session, base, password):
    page = session.get(base + "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(base + "/accounts/login/", data={
        "username": "bench", "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/accounts/login/"})
    response.raise_for_status()
    assert "sessionid" in session.cookies, "signing in failed"


def run_one(database, args):
    data = Path(tempfile.mkdtemp(prefix="bench-listing-", dir=os.environ.get("TMPDIR")))
    env = {**os.environ, "PORTAL_DATA_DIR": str(data)}
    env.pop("PORTAL_CONFIG", None)
    env.pop("DATABASE_URL", None)
    server, dbname = None, None
    if database == "postgres":
        dbname = f"bench_listing_{uuid.uuid4().hex[:8]}"
        psql(args.postgres_url + "/postgres", f"CREATE DATABASE {dbname}")
        env["DATABASE_URL"] = f"{args.postgres_url}/{dbname}"
    try:
        manage(env, "migrate", "-v0")
        token = manage(env, "create_token", "bench").strip().splitlines()[-1]
        password = uuid.uuid4().hex
        owner = manage(env, "shell", "-c", (
            "from django.contrib.auth import get_user_model; "
            "from accounts.models import Membership; "
            "u = get_user_model().objects.get(username='bench'); "
            f"u.set_password('{password}'); u.save(); "
            "print(Membership.objects.get(user=u).project_id)")).split()[-1]
        count, seconds = manage(env, "shell", "-c", POPULATE.format(
            count=args.images, owner=owner)).split()[-2:]
        manage(env, "db_analyze")
        print(f"{database}: inserted {count} images (with a property, 2 tags and a location "
              f"each) in {seconds} s", flush=True)
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "60"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        for _ in range(200):
            try:
                session.get(base + "/versions")
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        api = requests.Session()
        api.headers["X-Auth-Token"] = token
        results = []
        for limit in (25, 1000):
            marker = api.get(f"{base}/v2/images?limit={limit}").json()["images"][-1]["id"]
            for label, path in CASES:
                p50, p95, response = timed(api, base + path.format(limit=limit, marker=marker),
                                           args.rounds)
                shown = len(response.json()["images"])
                results.append((f"GET /v2/images {label}", limit, shown, p50, p95,
                                TARGETS[limit]))
        sign_in(session, base, password)
        for label, path in PAGES:
            p50, p95, response = timed(session, base + path, args.rounds)
            shown = response.text.count("<tr data-image-id=")
            results.append((label, 50, shown, p50, p95, TARGETS["html"]))
        return results
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        subprocess.run(["rm", "-rf", str(data)])
        if dbname:
            psql(args.postgres_url + "/postgres", f"DROP DATABASE IF EXISTS {dbname}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--database", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for database in args.database.split(","):
        results = run_one(database, args)
        print(f"\n{database}, {args.images} images, one client, {args.rounds} requests a case "
              "(ms over HTTP, client and server on this machine)")
        print(f"{'case':<42} {'limit':>5} {'shown':>5} {'p50':>8} {'p95':>8} {'target':>7}  ")
        for label, limit, shown, p50, p95, target in results:
            verdict = "PASS" if p50 <= target else "MISS"
            print(f"{label:<42} {limit:>5} {shown:>5} {p50:>8.1f} {p95:>8.1f} {target:>7.0f}  "
                  f"{verdict}")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
