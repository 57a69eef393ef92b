"""Time audits by listing at scale: shallow over 100,000 locations (file store, Swift) and
deep over many small images, against this machine's one-pass hashing limit.

    .venv/bin/python bench/audit_listing.py [--locations 100000] [--swift-locations N]
                                            [--deep-images 200] [--deep-mib 4]

Builds a fresh portal (SQLite in a temporary data dir) whose PORTAL_CONFIG has a file store
`file` and a Swift store `swift` (the swift-aio, a new container), then:

- file: writes --locations tiny objects (64 bytes) and inserts their images and locations
  in bulk (bulk_create), with a tenth of that first to show that memory stays flat;
- swift: uploads --swift-locations tiny objects with 32 threads (setup, timed, cut off after
  --swift-budget seconds: the figure says how many) and inserts the rows;
- deep: --deep-images random images of --deep-mib MiB in the file store, audited with the
  default pool (one worker per CPU) and with one worker, against the one-pass hashing limit
  (1 MiB chunks, md5 then sha512, one thread) over the same files, in the same run.

Each audit runs in its own `manage.py shell -c` process calling audit_run (findings written
as AuditFinding rows, orphan classification included) and prints its elapsed time and its
peak RSS. A measurement, not a test: it exits 0 whether the targets are met or not.
"""
import argparse
import os
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit import (RETIRE, audit, hashing_limit, manage, portal_dir,  # noqa: E402
                   remove_all, swift_env)

TINY = 64

POPULATE = """
import hashlib, os, uuid
from django.utils import timezone
from images.models import Image, ImageLocation
prefix, store, count, size, write = {prefix!r}, {store!r}, {count!r}, {size!r}, {write!r}
ids = [line.strip() for line in open({ids!r})] if {ids!r} else None
now = timezone.now()
done = 0
while done < count:
    n = min(10000, count - done)
    images, locations = [], []
    for i in range(n):
        image_id = ids[done + i] if ids else str(uuid.uuid4())
        if write:
            body = os.urandom(size)
            with open(os.path.join(write, image_id), "wb") as fh:
                fh.write(body)
            md5, sha = hashlib.md5(body).hexdigest(), hashlib.sha512(body).hexdigest()
        else:
            md5 = sha = None
        images.append(Image(id=image_id, name="bench", owner="bench", status="active",
                            disk_format="raw", container_format="bare", size=size,
                            checksum=md5, os_hash_algo="sha512", os_hash_value=sha,
                            visibility="private", created_at=now, updated_at=now))
        locations.append(ImageLocation(image_id=image_id, value=prefix + image_id,
                                       meta_data={{"store": store}}, status="active"))
    Image.objects.bulk_create(images, batch_size=2000)
    ImageLocation.objects.bulk_create(locations, batch_size=2000)
    done += n
print(done)
"""

def populate(env, prefix, store, count, size, *, write=None, ids=None):
    start = time.perf_counter()
    manage(env, "shell", "-c", POPULATE.format(prefix=prefix, store=store, count=count,
                                               size=size, write=str(write) if write else "",
                                               ids=str(ids) if ids else ""))
    return time.perf_counter() - start


def swift_url(sw):
    import swiftclient
    conn = swiftclient.Connection(authurl=sw["SWIFT_AUTH_URL"], user=sw["SWIFT_USER"],
                                  key=sw["SWIFT_KEY"], retries=2)
    url, token = conn.get_auth()
    return conn, url, token


def swift_upload(sw, container, count, ids_file, *, budget):
    """PUT up to `count` tiny objects with 32 threads, for at most `budget` seconds (the
    all-in-one writes each object to disk: a few hundred a second on 2 CPUs). Swift's bulk
    middleware (extract-archive) was tried too: it writes the objects of an archive one
    after the other and was slower here."""
    import swiftclient
    conn, url, token = swift_url(sw)
    conn.put_container(container)
    body = b"s" * TINY
    local = threading.local()
    deadline = time.monotonic() + budget

    def put(_):
        if time.monotonic() > deadline:
            return None
        if not hasattr(local, "conn"):
            local.conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=5)
        name = str(uuid.uuid4())
        local.conn.put_object(container, name, body, content_length=len(body))
        return name

    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        names = [name for name in pool.map(put, range(count)) if name]
    elapsed = time.perf_counter() - start
    ids_file.write_text("\n".join(names) + "\n")
    return len(names), elapsed


def swift_cleanup(sw, container):
    """Remove the container's objects with bulk deletes of 10,000 names, then it."""
    import requests
    from swiftclient.exceptions import ClientException
    conn, url, token = swift_url(sw)
    while True:
        try:
            _, page = conn.get_container(container, limit=10_000)
        except ClientException as exc:
            if exc.http_status == 404:
                return
            raise
        if not page:
            break
        names = "\n".join(f"/{container}/{entry['name']}" for entry in page)
        requests.post(f"{url}", params={"bulk-delete": "1"}, data=names.encode(),
                      headers={"X-Auth-Token": token, "Content-Type": "text/plain",
                               "Accept": "application/json"}, timeout=600)
    conn.delete_container(container)


def rss(result):
    """Peak RSS, and what the audit added to the process's peak before it."""
    return (f"{result['peak_kib'] / 1024:.0f} MiB "
            f"(+{(result['peak_kib'] - result['base_kib']) / 1024:.0f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=100_000)
    parser.add_argument("--swift-locations", type=int, default=None,
                        help="default: --locations")
    parser.add_argument("--swift-budget", type=int, default=240,
                        help="seconds the Swift objects may take to upload (setup)")
    parser.add_argument("--deep-images", type=int, default=200)
    parser.add_argument("--deep-mib", type=int, default=4)
    args = parser.parse_args()
    swift_count = args.swift_locations or args.locations

    sw = swift_env()
    container = f"bench-listing-{secrets.token_hex(4)}"
    data, root, env = portal_dir(sw, container, prefix="bench-listing-",
                                 parent=os.environ.get("TMPDIR"))
    rows, notes = [], []
    try:
        manage(env, "migrate", "-v0")
        file_prefix = f"file://{root}/"

        # Shallow, file store: a tenth, then all of them.
        tenth = max(1, args.locations // 10)
        for count, add in ((tenth, tenth), (args.locations, args.locations - tenth)):
            took = populate(env, file_prefix, "file", add, TINY, write=root)
            notes.append(f"file: {add} objects written and their rows inserted in "
                         f"{took:.1f} s ({add / took:.0f}/s)")
            result = audit(env, "file")
            rows.append((f"shallow, file, {count}", count, result, "loc/s", 50_000))
        manage(env, "shell", "-c", RETIRE.format(prefix=file_prefix))
        for path in root.iterdir():
            path.unlink()

        # Shallow, Swift.
        ids = data / "swift-ids"
        made, took = swift_upload(sw, container, swift_count, ids, budget=args.swift_budget)
        notes.append(f"swift: {made} of {swift_count} objects uploaded with 32 threads in "
                     f"{took:.1f} s ({made / took:.0f}/s; the upload stops after "
                     f"{args.swift_budget} s)")
        swift_count = made
        took = populate(env, f"swift+config://ref1/{container}/", "swift", swift_count, TINY,
                        ids=ids)
        notes.append(f"swift: {swift_count} rows inserted in {took:.1f} s")
        result = audit(env, "swift")
        rows.append((f"shallow, swift, {swift_count}", swift_count, result, "loc/s", 20_000))
        manage(env, "shell", "-c", RETIRE.format(prefix="swift+config://"))

        # Deep, many small images in the file store.
        size = args.deep_mib * 2**20
        populate(env, file_prefix, "file", args.deep_images, size, write=root)
        files = sorted(root.iterdir())
        total = sum(path.stat().st_size for path in files)
        limits = []
        for _ in range(2):
            start = time.perf_counter()
            for path in files:
                hashing_limit(path)
            limits.append(total / 1e6 / (time.perf_counter() - start))
        limit = max(limits)
        deep_rows = []
        for workers in (None, 1):
            result = audit(env, "file", deep=True, workers=workers)
            rate = total / 1e6 / result["elapsed"]
            deep_rows.append((workers, result, rate))
    finally:
        remove_all(sw, container, data, cleanup=swift_cleanup)

    load = os.getloadavg()
    print(f"\nAudits by listing ({os.cpu_count()} CPUs, load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}, SQLite, objects {TINY} bytes)")
    for note in notes:
        print(f"  {note}")
    print(f"{'measure':<24} {'locations':>9} {'seconds':>7} {'rate':>15} {'target':>7} "
          f"{'ratio':>6} {'CPU s':>6} {'per CPU-second':>15} {'RSS':>15}  findings")
    for name, count, result, unit, target in rows:
        rate = count / result["elapsed"]
        print(f"{name:<24} {count:>9} {result['elapsed']:>7.2f} {rate:>9.0f} {unit} "
              f"{target:>7} {rate / target:>5.2f}x {result['cpu']:>6.2f} "
              f"{count / result['cpu']:>9.0f} {unit} {rss(result):>15}  "
              f"{dict(result['findings'])}")
    print(f"\none-pass hashing limit (md5 then sha512, 1 MiB chunks, one thread, "
          f"{args.deep_images} files of {args.deep_mib} MiB): {limit:.0f} MB/s")
    for workers, result, rate in deep_rows:
        label = "default pool" if workers is None else f"{workers} worker"
        print(f"deep, file, {args.deep_images} x {args.deep_mib} MiB, {label}: "
              f"{result['elapsed']:.2f} s, {rate:.0f} MB/s = {rate / limit:.2f}x the limit "
              f"(target >= 1.5x), peak RSS {rss(result)}, {dict(result['findings'])}")


if __name__ == "__main__":
    main()
