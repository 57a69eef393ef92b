"""Swift and S3 upload/download through the Image API against the stores' own clients.

Uploads a file of random bytes into a Swift (and an S3) store through
PUT /v2/images/ID/file and downloads it through GET /v2/images/ID/file (curl on the client
side), and in the same run, alternating with them, moves the same file with
python-swiftclient's `put_object`/`get_object` and boto3's `upload_file`/`download_file`
against the same endpoint. Reports each pass's ratio (ours / reference) and their medians.
The endpoint is the one `scripts/swift-aio env` exports (SWIFT_AUTH_URL, S3_ENDPOINT_URL, ...).

    eval "$(bash scripts/swift-aio env)"
    .venv/bin/python bench/object_stores.py --size-mib 1024 --passes 3

It is a measurement, not a test: it exits 0 whatever the ratios, non-zero when a step failed.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload_download import (CLK_TCK, BenchError, Client, Portal, hash_file,  # noqa: E402
                             make_random_file, mbps, process_counters, read_through,
                             system_ticks, verdict)

MiB = 2**20
TARGET_UPLOAD = 0.8
TARGET_DOWNLOAD = 0.9


def portal_config(path, env, store="swift"):
    path.write_text(f"""default_store = "{store}"

[stores.swift]
backend = "swift"
auth_url = "{env['SWIFT_AUTH_URL']}"
user = "{env['SWIFT_USER']}"
key = "{env['SWIFT_KEY']}"
container = "bench-{uuid.uuid4().hex[:8]}"

[stores.s3]
backend = "s3"
endpoint_url = "{env['S3_ENDPOINT_URL']}"
access_key = "{env['S3_ACCESS_KEY']}"
secret_key = "{env['S3_SECRET_KEY']}"
bucket = "bench-{uuid.uuid4().hex[:8]}"
region = "{env.get('S3_REGION', 'us-east-1')}"
""")


class SwiftReference:
    """python-swiftclient as its users call it: put_object from the open file, get_object."""

    name = "swiftclient"

    def __init__(self, env):
        from swiftclient import Connection
        self.conn = Connection(authurl=env["SWIFT_AUTH_URL"], user=env["SWIFT_USER"],
                               key=env["SWIFT_KEY"])
        self.container = f"bench-ref-{uuid.uuid4().hex[:8]}"
        self.conn.put_container(self.container)
        self.names = []

    def upload(self, path):
        name = uuid.uuid4().hex
        with open(path, "rb") as fh:
            start = time.perf_counter()
            self.conn.put_object(self.container, name, contents=fh,
                                 content_length=os.path.getsize(path))
            elapsed = time.perf_counter() - start
        self.names.append(name)
        return elapsed

    def download(self, size):
        start = time.perf_counter()
        _, body = self.conn.get_object(self.container, self.names[-1], resp_chunk_size=MiB)
        received = sum(len(chunk) for chunk in body)
        elapsed = time.perf_counter() - start
        if received != size:
            raise BenchError(f"swiftclient get_object: {received} of {size} bytes")
        return elapsed

    def cleanup(self):
        for name in self.names:
            self.conn.delete_object(self.container, name)
        self.conn.delete_container(self.container)


class S3Reference:
    """boto3's upload_file and download_file, with their default transfer settings."""

    name = "boto3"

    def __init__(self, env):
        import boto3
        self.client = boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"],
                                   aws_access_key_id=env["S3_ACCESS_KEY"],
                                   aws_secret_access_key=env["S3_SECRET_KEY"],
                                   region_name=env.get("S3_REGION", "us-east-1"))
        self.bucket = f"bench-ref-{uuid.uuid4().hex[:8]}"
        self.client.create_bucket(Bucket=self.bucket)
        self.names = []

    def upload(self, path):
        name = uuid.uuid4().hex
        start = time.perf_counter()
        self.client.upload_file(str(path), self.bucket, name)
        elapsed = time.perf_counter() - start
        self.names.append(name)
        return elapsed

    def download(self, size):
        # download_file needs a seekable target: a file, which is then removed.
        target = Path(tempfile.gettempdir()) / f"bench-{uuid.uuid4().hex}"
        try:
            start = time.perf_counter()
            self.client.download_file(self.bucket, self.names[-1], str(target))
            elapsed = time.perf_counter() - start
            if target.stat().st_size != size:
                raise BenchError("boto3 download_file: wrong size")
        finally:
            target.unlink(missing_ok=True)
        return elapsed

    def cleanup(self):
        for name in self.names:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        self.client.delete_bucket(Bucket=self.bucket)


def swift_pids():
    """The Swift proxy and object servers of this machine (they also serve the S3 API)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"swift-proxy-server" in command or b"swift-object-server" in command:
            pids.append(int(entry.name))
    return pids


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            total += process_counters(pid)[0]
        except OSError:  # ended meanwhile
            pass
    return total


def timed(action, pid):
    """(seconds, CPU seconds of the whole machine, of Swift's proxy and object servers, of
    the portal's worker) of `action()`.

    Swift, its S3 API and both clients run on the same machine: when the machine's CPU
    seconds come close to (CPUs x wall time), the transfer is CPU-bound. The machine's
    figure includes whatever else runs; Swift's includes other clients of the same Swift.
    """
    swift = swift_pids()
    busy, swift_cpu, worker = system_ticks()[0], cpu_seconds(swift), process_counters(pid)[0]
    seconds = action()
    return (seconds, (system_ticks()[0] - busy) / CLK_TCK, cpu_seconds(swift) - swift_cpu,
            process_counters(pid)[0] - worker)


def ours(portal, client, store, path, size, images):
    image_id = portal.create_image(f"bench-{store}")
    images.append(image_id)
    pid = portal.worker_pid()
    read_through(path)
    up = timed(lambda: client.upload(image_id, path, chunked=False), pid)
    down = timed(lambda: client.download(image_id, size), pid)
    return up, down


def theirs(reference, path, size, pid):
    read_through(path)
    up = timed(lambda: reference.upload(path), pid)
    down = timed(lambda: reference.download(size), pid)
    return up, down


def measure_store(args, portal, client, store, path, size, md5):
    env = os.environ
    reference = SwiftReference(env) if store == "swift" else S3Reference(env)
    images = []
    passes = []
    try:
        for number in range(args.passes):
            pid = portal.worker_pid()
            # Alternate who goes first, so that a slow spell hits both alike.
            order = [("ours", lambda: ours(portal, client, store, path, size, images)),
                     ("ref", lambda: theirs(reference, path, size, pid))]
            if number % 2:
                order.reverse()
            times = {who: measure() for who, measure in order}
            passes.append(times)
            print(f"{store} pass {number + 1}:", flush=True)
            for who, (up, down) in sorted(times.items()):
                print(f"  {who:4} " + "  ".join(
                    f"{label} {mbps(size, t[0]):6.1f} MB/s (CPU s: machine {t[1]:4.1f}, swift "
                    f"{t[2]:4.1f}, worker {t[3]:4.1f})"
                    for label, t in (("up", up), ("down", down))), flush=True)
        for image_id in images:
            record = portal.json("GET", f"/v2/images/{image_id}")
            if record["checksum"] != md5["md5"] or record["size"] != size:
                raise BenchError(f"image {image_id}: checksum or size differs")
    finally:
        reference.cleanup()
        for image_id in images:
            portal.request("DELETE", f"/v2/images/{image_id}")
    return reference.name, passes


def run(args, work_dir):
    env = os.environ
    missing = [v for v in ("SWIFT_AUTH_URL", "SWIFT_USER", "SWIFT_KEY", "S3_ENDPOINT_URL",
                           "S3_ACCESS_KEY", "S3_SECRET_KEY") if v not in env]
    if missing:
        raise BenchError(f"missing {', '.join(missing)}: eval \"$(bash scripts/swift-aio env)\"")
    size = args.size_mib * MiB
    path = work_dir / "image.raw"
    make_random_file(path, args.size_mib)
    _, md5 = hash_file(path, ["md5"])
    results = {}
    for store in args.stores:
        # A portal per store, whose default store it is: uploads name no store.
        config = work_dir / f"portal-{store}.toml"
        portal_config(config, env, store)
        portal = Portal(work_dir / f"data-{store}", work_dir / f"gunicorn-{store}.log")
        portal.env["PORTAL_CONFIG"] = str(config)
        try:
            portal.start()
            results[store] = measure_store(args, portal, Client(portal, work_dir), store,
                                           path, size, md5)
        finally:
            portal.stop()
    return results


def report(args, results):
    size = args.size_mib * MiB
    print(f"\n{args.size_mib} MiB, {args.passes} passes per store; ratio = reference time / "
          "our time (above 1: we are faster)")
    for store, (name, passes) in results.items():
        for index, label, target in ((0, "upload", TARGET_UPLOAD),
                                     (1, "download", TARGET_DOWNLOAD)):
            ratios = [p["ref"][index][0] / p["ours"][index][0] for p in passes]
            ours_mbps = statistics.median(mbps(size, p["ours"][index][0]) for p in passes)
            ref_mbps = statistics.median(mbps(size, p["ref"][index][0]) for p in passes)
            median = statistics.median(ratios)
            cpu = {who: [statistics.median(p[who][index][k] for p in passes) for k in (1, 2)]
                   for who in ("ours", "ref")}
            print(f"  {store:5} {label:8}  ours {ours_mbps:7.1f} MB/s  {name} {ref_mbps:7.1f} "
                  f"MB/s  ratio median {median:.2f} (passes "
                  f"{', '.join(f'{r:.2f}' for r in ratios)})  target >= {target}  "
                  f"{verdict(median >= target)}")
            print(f"        CPU seconds (medians), machine / Swift: ours {cpu['ours'][0]:.1f} / "
                  f"{cpu['ours'][1]:.1f}, {name} {cpu['ref'][0]:.1f} / {cpu['ref'][1]:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=["swift", "s3"],
                        choices=["swift", "s3"])
    parser.add_argument("--dir", default=None, help="where the work dir is made")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-stores-", dir=args.dir) as work:
        try:
            results = run(args, Path(work))
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
