"""Time location audits: shallow over many locations (file store, Swift) and deep over one image.

    .venv/bin/python bench/audit.py [--locations 10000] [--deep-mib 512] [--small-kib 4]

Builds a fresh portal (SQLite in a temporary data dir) whose PORTAL_CONFIG has a file store
`file` (root in the temp dir) and a Swift store `swift` (the swift-aio on 127.0.0.1:8080, a
new container `bench-audit-<random>`, reference ref1), then measures, each audit in its own
`manage.py shell -c` process calling `audit_run(store_name=..., deep=...)`:

- deep: one random image of --deep-mib MiB in the file store, against this machine's
  one-pass hashing limit (1 MiB chunks, md5 then sha512, one thread) over the same file;
- shallow, file: 2,000 then --locations small random objects with one location each;
  peak RSS at both counts shows whether memory stays flat; the same audit through
  `manage.py audit_locations --store file --format json` is timed too (wall clock);
- shallow, Swift: --locations small objects uploaded by 16 threads (setup, not timed; cut
  to 2,000 if the upload would take over 3 minutes);
- unreferenced, file and Swift: the same objects once no location references them, each
  told apart as leftover or foreign (the write journal, and its size for the report).

Everything is removed at the end (temp dir, Swift objects and container). A measurement,
not a test: it exits 0 whether the targets are met or not.
"""
import argparse
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 2**20
SWIFT_SETUP_BUDGET = 180  # seconds of upload before falling back to 2,000 objects
SMALL_COUNT = 2_000

POPULATE = """
import json
from django.utils import timezone
from images.models import Image, ImageLocation
manifest = json.load(open({manifest!r}))
now = timezone.now()
images = [Image(id=row["id"], name="audit-" + row["id"][:8], owner={owner!r}, status="active",
                disk_format="raw", container_format="bare", size=row["size"],
                checksum=row["md5"], os_hash_algo="sha512", os_hash_value=row["sha512"],
                visibility="private", created_at=now, updated_at=now) for row in manifest]
Image.objects.bulk_create(images, batch_size=1000)
ImageLocation.objects.bulk_create(
    [ImageLocation(image=im, value=row["uri"], meta_data={{"store": row["store"]}},
                   status="active") for im, row in zip(images, manifest)], batch_size=1000)
print(Image.objects.count())
"""

AUDIT = """
import json, resource, time
from collections import Counter
from images.services.audit import audit_run
usage = resource.getrusage(resource.RUSAGE_SELF)
base, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
start = time.perf_counter()
tally = Counter()
# As the audit_locations text report and the worker's tasks do: count every finding, keep
# only the problems in memory.
audit_run(store_name={store!r}, deep={deep!r}, tally=tally, keep=lambda f: not f.ok,
          workers={workers!r})
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu
findings = Counter()
for (_, finding), count in tally.items():
    findings[finding] += count
print(json.dumps({{"elapsed": elapsed, "cpu": cpu, "base_kib": base, "peak_kib": peak,
                  "findings": findings}}))
"""

# Retire a store's locations (status deleted) so the next audit sees only the next set.
RETIRE = """
from images.models import ImageLocation
print(ImageLocation.objects.filter(value__startswith={prefix!r}).update(status="deleted"))
"""


def manage(env, *args, check=True):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if check and result.returncode:
        sys.exit(f"manage.py {args[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def audit(env, store, *, deep=False, workers=None):
    """One audit_run in its own process: elapsed seconds, CPU seconds (the process's own),
    ru_maxrss before and after (KiB), {finding: count}. `workers`: the deep audit's pool (None: one per CPU)."""
    out = manage(env, "shell", "-c", AUDIT.format(store=store, deep=deep, workers=workers))
    return json.loads(out.strip().splitlines()[-1])


def populate(env, data, owner, rows):
    manifest = data / f"manifest-{uuid.uuid4().hex[:8]}.json"
    manifest.write_text(json.dumps(rows))
    manage(env, "shell", "-c", POPULATE.format(manifest=str(manifest), owner=owner))
    manifest.unlink()


def small_object(size):
    body = os.urandom(size)
    return body, {"id": str(uuid.uuid4()), "size": size, "md5": hashlib.md5(body).hexdigest(),
                  "sha512": hashlib.sha512(body).hexdigest()}


def file_objects(root, count, size):
    rows = []
    for _ in range(count):
        body, row = small_object(size)
        (root / row["id"]).write_bytes(body)
        rows.append({**row, "uri": f"file://{root}/{row['id']}", "store": "file"})
    return rows


def hashing_limit(path):
    """One pass, one thread: read 1 MiB, update md5 then sha512. Returns (MB/s, md5, sha512)."""
    md5, sha = hashlib.md5(), hashlib.sha512()
    size = 0
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return size / 1e6 / (time.perf_counter() - start), md5.hexdigest(), sha.hexdigest()


def swift_env():
    out = subprocess.run(["bash", "scripts/swift-aio", "env"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export "):].split("=", 1)
            values[name] = value
    return values


def swift_conn(sw):
    import swiftclient
    return swiftclient.Connection(authurl=sw["SWIFT_AUTH_URL"], user=sw["SWIFT_USER"],
                                  key=sw["SWIFT_KEY"], retries=2)


def swift_upload(sw, container, count, size):
    """Upload `count` small objects with 16 threads; fewer (2,000) if it would be too slow."""
    conn = swift_conn(sw)
    conn.put_container(container)
    objects = [small_object(size) for _ in range(count)]
    per_thread = {}

    def put(item):
        import threading
        tid = threading.get_ident()
        if tid not in per_thread:
            per_thread[tid] = swift_conn(sw)
        body, row = item
        for attempt in range(5):  # the all-in-one answers 503/timeouts under 16 writers
            try:
                per_thread[tid].put_object(container, row["id"], io.BytesIO(body),
                                           content_length=len(body),
                                           content_type="application/octet-stream")
                return row
            except Exception:
                if attempt == 4:
                    raise
                per_thread[tid] = swift_conn(sw)
                time.sleep(0.5 * (attempt + 1))

    rows = []
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        first = min(SMALL_COUNT, count)
        rows += pool.map(put, objects[:first])
        rate = first / (time.perf_counter() - start)
        if count > first and count / rate > SWIFT_SETUP_BUDGET:
            print(f"  swift upload at {rate:.0f} objects/s: {count} would take "
                  f"{count / rate:.0f} s, keeping {first}")
        elif count > first:
            rows += pool.map(put, objects[first:])
    elapsed = time.perf_counter() - start
    print(f"  uploaded {len(rows)} objects to Swift in {elapsed:.1f} s "
          f"({len(rows) / elapsed:.0f} objects/s)")
    return [{**row, "uri": f"swift+config://ref1/{container}/{row['id']}", "store": "swift"}
            for row in rows]


def swift_cleanup(sw, container):
    from swiftclient.exceptions import ClientException
    conn = swift_conn(sw)
    try:
        names = []
        marker = ""
        while True:
            _, page = conn.get_container(container, marker=marker)
            if not page:
                break
            names += [entry["name"] for entry in page]
            marker = page[-1]["name"]
    except ClientException as exc:
        if exc.http_status == 404:
            return
        raise
    conns = {}

    def delete(name):
        import threading
        tid = threading.get_ident()
        if tid not in conns:
            conns[tid] = swift_conn(sw)
        try:
            conns[tid].delete_object(container, name)
        except ClientException as exc:
            if exc.http_status != 404:
                raise

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(delete, names))
    conn.delete_container(container)


def portal_dir(sw, container, *, prefix, parent=None):
    """A fresh temp data dir with a PORTAL_CONFIG of a file store `file` (its root in the
    dir) and a Swift store `swift` (the swift-aio, `container`, reference ref1); returns
    (data dir, file store root, the environment of manage.py)."""
    data = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    root = data / "file-store"
    root.mkdir()
    config = data / "portal.toml"
    config.write_text(f"""default_store = "file"

[stores.file]
backend = "file"
root = "{root}"

[stores.swift]
backend = "swift"
auth_url = "{sw['SWIFT_AUTH_URL']}"
user = "{sw['SWIFT_USER']}"
key = "{sw['SWIFT_KEY']}"
container = "{container}"
reference = "ref1"
""")
    env = {**os.environ, "PORTAL_DATA_DIR": str(data), "PORTAL_CONFIG": str(config)}
    env.pop("DATABASE_URL", None)
    return data, root, env


def remove_all(sw, container, data, *, cleanup=swift_cleanup):
    """Remove the Swift container (with `cleanup`) and the temp dir, whatever happened."""
    try:
        cleanup(sw, container)
    except Exception as exc:  # report, still remove the temp dir
        print(f"swift cleanup failed: {exc}", file=sys.stderr)
    shutil.rmtree(data, ignore_errors=True)


def mib(kib):
    return kib / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=10_000)
    parser.add_argument("--deep-mib", type=int, default=512)
    parser.add_argument("--small-kib", type=int, default=4)
    args = parser.parse_args()
    small = args.small_kib * 1024

    sw = swift_env()
    container = f"bench-audit-{secrets.token_hex(4)}"
    data, root, env = portal_dir(sw, container, prefix="bench-audit-")
    rows = []  # (measure, locations, seconds, rate, peak RSS MiB, RSS growth MiB, findings)
    try:
        manage(env, "migrate", "-v0")
        manage(env, "create_token", "bench")
        owner = manage(env, "shell", "-c", "from accounts.models import Membership; "
                       "print(Membership.objects.get(user__username='bench').project_id)"
                       ).split()[-1]

        # Deep: one big image in the file store, against the one-pass hashing limit.
        print(f"deep: writing {args.deep_mib} MiB of random data")
        image_id = str(uuid.uuid4())
        big = root / image_id
        with open(big, "wb") as fh:
            for _ in range(args.deep_mib):
                fh.write(os.urandom(CHUNK))
        limit, md5, sha = max((hashing_limit(big) for _ in range(2)), key=lambda r: r[0])
        populate(env, data, owner, [{"id": image_id, "size": big.stat().st_size, "md5": md5,
                                     "sha512": sha, "uri": f"file://{big}", "store": "file"}])
        deep = audit(env, "file", deep=True)
        deep_rate = big.stat().st_size / 1e6 / deep["elapsed"]
        rows.append(("deep, file, 1 image", 1, deep["elapsed"], f"{deep_rate:.0f} MB/s",
                     mib(deep["peak_kib"]), mib(deep["peak_kib"] - deep["base_kib"]),
                     deep["findings"]))
        manage(env, "shell", "-c", RETIRE.format(prefix="file://"))
        big.unlink()

        # Shallow, file store: 2,000 then `--locations` locations.
        done = 0
        for count in sorted({min(SMALL_COUNT, args.locations), args.locations}):
            print(f"shallow file: creating {count - done} objects and images")
            populate(env, data, owner, file_objects(root, count - done, small))
            done = count
            result = audit(env, "file")
            rows.append((f"shallow, file, {count}", count, result["elapsed"],
                         f"{count / result['elapsed']:.0f} loc/s", mib(result["peak_kib"]),
                         mib(result["peak_kib"] - result["base_kib"]), result["findings"]))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "manage.py", "audit_locations", "--store", "file",
                               "--format", "json"], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        command_s = time.perf_counter() - start
        reported = json.loads(proc.stdout)
        rows.append(("audit_locations cmd, file", done, command_s,
                     f"{done / command_s:.0f} loc/s", None, None,
                     {"exit": proc.returncode, "findings": len(reported)}))

        # Shallow, Swift: retire the file locations so only Swift's are audited. The file
        # store's objects are then referenced by nothing: each is classified (leftover or
        # foreign: a journal lookup and its size) instead of checked.
        manage(env, "shell", "-c", RETIRE.format(prefix="file://"))
        result = audit(env, "file")
        rows.append((f"unreferenced, file, {done}", done, result["elapsed"],
                     f"{done / result['elapsed']:.0f} obj/s", mib(result["peak_kib"]),
                     mib(result["peak_kib"] - result["base_kib"]), result["findings"]))
        print(f"shallow swift: uploading {args.locations} objects (setup)")
        swift_rows = swift_upload(sw, container, args.locations, small)
        populate(env, data, owner, swift_rows)
        result = audit(env, "swift")
        count = len(swift_rows)
        rows.append((f"shallow, swift, {count}", count, result["elapsed"],
                     f"{count / result['elapsed']:.0f} loc/s", mib(result["peak_kib"]),
                     mib(result["peak_kib"] - result["base_kib"]), result["findings"]))
        manage(env, "shell", "-c", RETIRE.format(prefix="swift+config://"))
        result = audit(env, "swift")
        rows.append((f"unreferenced, swift, {count}", count, result["elapsed"],
                     f"{count / result['elapsed']:.0f} obj/s", mib(result["peak_kib"]),
                     mib(result["peak_kib"] - result["base_kib"]), result["findings"]))
    finally:
        remove_all(sw, container, data)

    print(f"\nLocation audits ({os.cpu_count()} CPUs, small objects {args.small_kib} KiB, "
          f"SQLite)")
    print(f"{'measure':<28} {'locations':>9} {'seconds':>8} {'rate':>12} {'peak RSS':>9} "
          f"{'RSS +':>7}  findings")
    for name, count, secs, rate, peak, growth, findings in rows:
        peak_s = f"{peak:.0f} MiB" if peak is not None else "-"
        growth_s = f"{growth:.0f} MiB" if growth is not None else "-"
        print(f"{name:<28} {count:>9} {secs:>8.2f} {rate:>12} {peak_s:>9} {growth_s:>7}  "
              f"{dict(findings)}")
    print(f"\none-pass hashing limit (md5 then sha512, 1 MiB, one thread): {limit:.0f} MB/s")
    print(f"deep audit: {deep_rate:.0f} MB/s = {deep_rate / limit:.2f} of the limit "
          f"(target >= 0.80)")


if __name__ == "__main__":
    main()
