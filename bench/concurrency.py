"""Many clients at once through `make run`'s own setup: throughput, list latency, memory.

    .venv/bin/python bench/concurrency.py [--clients 40] [--size-mib 256] [--setups 4x16,2x4]

For each web setup (gunicorn workers x threads, as WEB_CONCURRENCY and WEB_THREADS give
them to scripts/run), a fresh portal is started with scripts/run (gunicorn, a Celery worker,
the embedded default: SQLite and two file stores) and:
1. `--clients` curl processes upload a file of random bytes into as many images at once;
2. then download them all at once to /dev/null;
3. meanwhile, a GET /v2/images?limit=25 is sent every `--probe-interval` seconds on its own
   connection and its time to first byte recorded (and once on the idle portal before);
4. every process of the portal is sampled for its RSS, so each one's peak can be set
   against its idle size and the number of transfers it carried.
Every image's size, checksum and os_hash_value is then checked against the file, and a few
downloads are hashed again in full, outside the timed runs.

Aggregate MB/s is set against this machine's one-pass md5+sha512 hashing limit times its
usable CPUs, measured in the same run. It is a measurement, not a test: it exits 0 whatever
the figures, non-zero when a step failed.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload_download import (FOREIGN_ENV, ROOT, BenchError, check_record,  # noqa: E402
                             free_port, hash_file, make_random_file, mbps, print_header,
                             read_through, verdict)

MiB = 2**20
TARGET_PROBE_MS = 200  # p99 time to first byte of a list issued during the transfers


class Portal:
    """scripts/run in its own process group, on a data dir and port of its own."""

    def __init__(self, data_dir, log_path, workers, threads):
        self.data_dir = Path(data_dir)
        self.log_path = log_path
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        self.env.update(PORTAL_DATA_DIR=str(data_dir), PORT=str(self.port),
                        VENV=str(Path(sys.executable).parent.parent),
                        WEB_CONCURRENCY=str(workers), WEB_THREADS=str(threads))
        self.process = None
        self.token = None

    def start(self):
        self.data_dir.mkdir(parents=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(ROOT / "scripts" / "run")], cwd=ROOT,
                                            env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"scripts/run exited with {self.process.returncode}; "
                                 f"see {self.log_path}")
            try:
                self.request("GET", "/healthcheck")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError("the portal did not answer within 120 s") from None
                time.sleep(0.3)
        result = subprocess.run([sys.executable, "manage.py", "create_token", "bench-admin",
                                 "--admin"], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=120)
        if result.returncode:
            raise BenchError(f"create_token failed: {result.stderr}")
        self.token = result.stdout.strip().splitlines()[-1]

    def processes(self):
        """{pid: name} of scripts/run's descendants (gunicorn master and workers, Celery)."""
        found, todo = {}, [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo.extend(int(child) for child in (task / "children").read_text().split())
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
        return {pid: name_of(cmd.decode(errors="replace")) for pid, cmd in found.items()
                if pid != self.process.pid}

    def request(self, method, path, body=None, headers=()):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body,
                         headers={"X-Auth-Token": self.token or "", **dict(headers)})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method, path, payload=None, expect=200):
        body = None if payload is None else json.dumps(payload)
        status, data = self.request(method, path, body,
                                    {"Content-Type": "application/json"} if body else {})
        if status != expect:
            raise BenchError(f"{method} {path}: HTTP {status} {data[:300]!r}")
        return json.loads(data) if data else None

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.process and self.process.poll() is None:
            # scripts/run stops gunicorn and Celery on TERM and waits for them.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def name_of(cmdline):
    if "celery" in cmdline:
        return "celery"
    if "gunicorn" in cmdline:
        return "gunicorn"
    return cmdline.split()[0].rsplit("/", 1)[-1] if cmdline.strip() else "?"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class MemoryWatch(threading.Thread):
    """Samples the RSS of every process of the portal; keeps each one's peak."""

    def __init__(self, portal, interval=0.2):
        super().__init__(daemon=True)
        self.portal, self.interval = portal, interval
        self.peaks = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for pid in self.portal.processes():
                if (kib := rss_kib(pid)) is not None:
                    self.peaks[pid] = max(kib, self.peaks.get(pid, 0))
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join()
        return self.peaks


class ListProbe(threading.Thread):
    """GET /v2/images?limit=25 at a steady pace: each one's time to first byte, in ms."""

    def __init__(self, portal, interval):
        super().__init__(daemon=True)
        self.portal, self.interval = portal, interval
        self.times, self.errors, self.when = [], [], []
        self.started = time.perf_counter()
        self.halt = threading.Event()

    def once(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.portal.port, timeout=120)
        try:
            start = time.perf_counter()
            conn.request("GET", "/v2/images?limit=25",
                         headers={"X-Auth-Token": self.portal.token})
            response = conn.getresponse()  # returns once the status line and headers are in
            first_byte = time.perf_counter() - start
            response.read()
            if response.status != 200:
                self.errors.append(response.status)
            return first_byte * 1000
        finally:
            conn.close()

    def run(self):
        while not self.halt.is_set():
            try:
                self.when.append(time.perf_counter() - self.started)
                self.times.append(self.once())
            except OSError as exc:
                self.errors.append(str(exc))
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join()
        return self.times


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# Set by --client-nice: how much lower than the portal's the curl clients run.
CLIENT_NICE = 0


def lowered():
    if CLIENT_NICE:
        os.nice(CLIENT_NICE)


def curl_upload(portal, image_id, path):
    return subprocess.Popen(
        ["curl", "-sS", "-T", str(path), "-X", "PUT", "-o", os.devnull, "-w", "%{http_code}",
         "-H", "Expect:", "-H", "Content-Type: application/octet-stream",
         "-H", f"X-Auth-Token: {portal.token}", portal.url(f"/v2/images/{image_id}/file")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=lowered)


def curl_download(portal, image_id):
    return subprocess.Popen(
        ["curl", "-sS", "-o", os.devnull, "-w", "%{http_code} %{size_download}",
         "-H", f"X-Auth-Token: {portal.token}", portal.url(f"/v2/images/{image_id}/file")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=lowered)


def transfer_all(portal, image_ids, start_one, expect, probe_interval):
    """Start one curl per image at once; (seconds, probe times, peaks) when all are done."""
    os.sync()  # earlier dirty pages must not be written back on this clock
    probe, watch = ListProbe(portal, probe_interval), MemoryWatch(portal)
    watch.start()
    probe.start()
    start = time.perf_counter()
    procs = [start_one(portal, image_id) for image_id in image_ids]
    failures = []
    for image_id, proc in zip(image_ids, procs):
        out, err = proc.communicate()
        if proc.returncode or not out.strip().startswith(expect):
            failures.append(f"{image_id}: exit {proc.returncode}, {out.strip()} {err.strip()}")
    seconds = time.perf_counter() - start
    times, peaks = probe.stop(), watch.stop()
    if failures:
        raise BenchError(f"{len(failures)} transfers failed, e.g. {failures[0]}")
    if probe.errors:
        raise BenchError(f"list probes failed during the transfers: {probe.errors[:3]}")
    return seconds, list(zip(times, probe.when)), peaks


def download_md5(portal, image_id):
    md5 = hashlib.md5()
    conn = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=600)
    try:
        conn.request("GET", f"/v2/images/{image_id}/file", headers={"X-Auth-Token": portal.token})
        response = conn.getresponse()
        buf = memoryview(bytearray(MiB))
        while n := response.readinto(buf):
            md5.update(buf[:n])
        return md5.hexdigest()
    finally:
        conn.close()


def warm_up(portal, work_dir):
    """A few small uploads and downloads, so that idle sizes include the loaded code paths."""
    small = work_dir / "warm-up.raw"
    small.write_bytes(os.urandom(MiB))
    ids = [portal.json("POST", "/v2/images", {"name": f"warm-up-{i}", "disk_format": "raw",
                                              "container_format": "bare"}, expect=201)["id"]
           for i in range(4)]
    for start_one, expect in ((lambda p, i: curl_upload(p, i, small), "204"),
                              (curl_download, f"200 {MiB}")):
        procs = [start_one(portal, image_id) for image_id in ids]
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode or not out.strip().startswith(expect):
                raise BenchError(f"warm-up transfer failed: {out} {err}")
    small.unlink()


def run_setup(args, work_dir, path, digests, workers, threads):
    label = f"{workers}x{threads}"
    portal = Portal(work_dir / f"data-{label}", work_dir / f"portal-{label}.log", workers, threads)
    size = path.stat().st_size
    try:
        portal.start()
        warm_up(portal, work_dir)
        # Let the start settle (collectstatic, Celery's first beat) before the idle figures.
        time.sleep(3)
        idle_rss = {pid: (name, rss_kib(pid)) for pid, name in portal.processes().items()}
        idle_probe = ListProbe(portal, 0)
        idle = [idle_probe.once() for _ in range(20)]
        ids = [portal.json("POST", "/v2/images", {"name": f"bench-{i}", "disk_format": "raw",
                                                  "container_format": "bare"}, expect=201)["id"]
               for i in range(args.clients)]
        read_through(path)
        up_s, up_probe, up_peaks = transfer_all(
            portal, ids, lambda p, i: curl_upload(p, i, path), "204", args.probe_interval)
        problems = [f"{i}: {p}" for i in ids
                    for p in check_record(portal.json("GET", f"/v2/images/{i}"), size, digests)]
        if problems:
            raise BenchError(f"{len(problems)} images are wrong, e.g. {problems[0]}")
        down_s, down_probe, down_peaks = transfer_all(
            portal, ids, curl_download, f"200 {size}", args.probe_interval)
        for image_id in ids[:args.verify]:
            if download_md5(portal, image_id) != digests["md5"]:
                raise BenchError(f"the download of {image_id} differs from the file")
    finally:
        portal.stop()
        if not args.keep:
            shutil.rmtree(portal.data_dir, ignore_errors=True)
    return {"label": label, "workers": workers, "threads": threads, "size": size,
            "up_s": up_s, "down_s": down_s, "idle": idle, "up_probe": up_probe,
            "down_probe": down_probe, "idle_rss": idle_rss, "up_peaks": up_peaks,
            "down_peaks": down_peaks}


def report_setup(result, clients, limit):
    total = result["size"] * clients
    workers = result["workers"]
    print(f"\n## {result['workers']} worker(s) x {result['threads']} threads "
          f"(WEB_CONCURRENCY={workers} WEB_THREADS={result['threads']})")
    for phase, key in (("uploads", "up_s"), ("downloads", "down_s")):
        rate = mbps(total, result[key])
        print(f"{clients} {phase} of {result['size'] // MiB} MiB at once: {result[key]:.1f} s, "
              f"{rate:.0f} MB/s aggregate = {rate / limit:.2f}x the hashing limit x CPUs")
    print(f"GET /v2/images?limit=25, time to first byte (ms): idle p50 "
          f"{percentile(result['idle'], 50):.1f}")
    for phase, key in (("uploads", "up_probe"), ("downloads", "down_probe")):
        times = [ms for ms, _ in result[key]]
        p99 = percentile(times, 99)
        print(f"  during the {phase}: n={len(times)} p50 {percentile(times, 50):.1f} "
              f"p99 {p99:.1f} max {max(times, default=float('nan')):.1f}  "
              f"{verdict(p99 <= TARGET_PROBE_MS)} (p99 <= {TARGET_PROBE_MS} ms)")
        # When in the phase the slowest ones came: at its start, its end, or all along.
        slowest = sorted(result[key], reverse=True)[:5]
        print("    slowest (ms at s into the phase): " +
              ", ".join(f"{ms:.0f} at {at:.1f}" for ms, at in slowest))
    print("RSS by process (MiB): idle -> peak during uploads / downloads")
    # gunicorn's gthread workers each run at most `threads` requests; the rest wait.
    per_worker = min(result["threads"], clients / workers)
    for pid, (name, idle_kib) in sorted(result["idle_rss"].items(), key=lambda kv: kv[1][0]):
        if idle_kib is None:
            continue
        up = result["up_peaks"].get(pid, idle_kib)
        down = result["down_peaks"].get(pid, idle_kib)
        line = (f"  {name:9} pid {pid:7}: {idle_kib / 1024:6.1f} -> {up / 1024:6.1f} / "
                f"{down / 1024:6.1f}")
        if name == "gunicorn" and up - idle_kib > 10 * 1024:
            growth = (up - idle_kib) / 1024
            line += (f"  (+{growth:.0f} MiB: {growth / per_worker:.1f} MiB per upload at "
                     f"{per_worker:g} at once)")
        print(line)


def parse_setups(text):
    setups = []
    for item in text.split(","):
        workers, _, threads = item.strip().partition("x")
        setups.append((int(workers), int(threads)))
    return setups


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--setups", type=parse_setups, default=parse_setups("4x16"),
                        help="comma-separated WORKERSxTHREADS, e.g. 2x4,2x16,4x8")
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--verify", type=int, default=2,
                        help="downloads hashed again in full after the timed runs")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="run the curl clients this much nicer than the portal, as "
                             "clients on other machines would take none of its CPU")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    global CLIENT_NICE
    CLIENT_NICE = args.client_nice
    if not shutil.which("curl"):
        raise SystemExit("curl is needed: one process per client")
    work_dir = Path(tempfile.mkdtemp(prefix="portal-concurrency-", dir=args.dir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        print_header("Concurrency benchmark of the Image API", work_dir)
        print(f"clients: {args.clients} curl processes per phase, nice +{args.client_nice}")
        path = work_dir / "image.raw"
        make_random_file(path, args.size_mib)
        read_through(path)
        seconds, digests = hash_file(path, ("md5", "sha512"))
        cpus = len(os.sched_getaffinity(0))
        one_pass = mbps(path.stat().st_size, seconds)
        print(f"one-pass md5+sha512 hashing limit: {one_pass:.0f} MB/s; x {cpus} CPUs = "
              f"{one_pass * cpus:.0f} MB/s (the aggregate's yardstick); 1 MB = 10^6 bytes")
        for workers, threads in args.setups:
            result = run_setup(args, work_dir, path, digests, workers, threads)
            report_setup(result, args.clients, one_pass * cpus)
            sys.stdout.flush()
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
