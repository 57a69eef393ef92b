"""Upload and download speed of the Image API, as ratios to this machine's own limits.

    .venv/bin/python bench/upload_download.py [--size-mib 1024] [--repeat 1] [--keep] [--dir DIR]
                                               [--glance]

Every figure is measured in the same run: the limits (one-pass md5+sha512 hashing, disk
write) and the transfers through a fresh portal under gunicorn. Absolute MB/s differ from
one machine to the next; the ratios are what can be compared. With --glance, a real
OpenStack Glance API (scripts/glance-peer: Glance 33 under uWSGI, one file store on the
same disk) takes the same uploads and downloads after the portal, for a figure beside each
of the portal's. See bench/README.md.

Exit status: 0 when every step worked, whether or not the targets were met (this is a
measurement, not a test); 1 when something failed (HTTP error, checksum mismatch, a
server that does not start).
"""
import argparse
import hashlib
import http.client
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MiB = 2**20
MB = 10**6  # throughput is in MB/s, decimal, as disk and network figures usually are

TARGET_UPLOAD_RATIO = 0.8  # of the one-pass hashing limit
TARGET_DOWNLOAD_MBPS = 600
TARGET_RSS_GROWTH_MIB = 50
# Other load (in CPUs) during a timed run above which its figure is flagged as disturbed.
OTHERS_WARNING = 0.2

# Variables that would point the portal at another database, config or broker than the
# throwaway data dir of this run.
FOREIGN_ENV = ("DATABASE_URL", "PORTAL_CONFIG", "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL",
               "PORTAL_DEBUG")


class BenchError(Exception):
    """A step that failed: the run cannot give trustworthy figures."""


def mbps(nbytes, seconds):
    return nbytes / seconds / MB


def verdict(ok):
    return "PASS" if ok else "MISS"


# The machine's limits ---------------------------------------------------------------

def make_random_file(path, size_mib):
    # Random bytes, so that nothing on the way (a compressing filesystem or store) has an
    # easier job than with a real image; 1 MiB at a time, so that the benchmark's own
    # memory stays flat.
    with open(path, "wb") as fh:
        for _ in range(size_mib):
            fh.write(os.urandom(MiB))


def hash_file(path, algorithms):
    """(seconds, {algorithm: hexdigest}) of one sequential pass in this thread."""
    hashers = [hashlib.new(name) for name in algorithms]
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(MiB):
            for hasher in hashers:
                hasher.update(chunk)
    elapsed = time.perf_counter() - start
    return elapsed, {hasher.name: hasher.hexdigest() for hasher in hashers}


def read_through(path):
    # Some hosts page out idle page cache (this one runs DAMON pageout on page cache idle
    # for a minute); reading the file first makes the upload time the portal, not the disk.
    with open(path, "rb", buffering=0) as fh:
        while fh.read(MiB):
            pass


def disk_write(folder, nbytes):
    """Seconds to write `nbytes` in 1 MiB writes and fsync them."""
    block = os.urandom(MiB)
    path = Path(folder) / "disk-write-probe"
    os.sync()  # earlier dirty pages (the random file) must not be flushed on our clock
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < nbytes:
            written += os.write(fd, block[:min(MiB, nbytes - written)])
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


# The portal ---------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_status(pid):
    """{"VmRSS": KiB, "VmHWM": KiB} of a process."""
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), which turns
    # "peak since start" into "peak during this transfer". Not every kernel or sandbox
    # allows it; the caller then falls back to a bound.
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child_pids(pid):
    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            pass
    return children


class Portal:
    """A portal under gunicorn in its own data dir: one worker, so there is one RSS to watch."""

    def __init__(self, data_dir, log_path):
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        self.env["PORTAL_DATA_DIR"] = str(data_dir)
        self.port = None
        self.process = None
        self.token = None

    def manage(self, *args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise BenchError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def start(self):
        self.manage("migrate", "--noinput", "-v0")
        # whitenoise warns on every start when STATIC_ROOT is missing; collectstatic is not
        # needed for the API, an empty folder silences it.
        (self.data_dir / "static").mkdir(parents=True, exist_ok=True)
        self.token = self.manage("create_token", "bench-admin", "--admin").strip().splitlines()[-1]
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", "1", "--worker-class", "gthread", "--threads", "4",
                 "--timeout", "120", "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}; "
                                 f"see {self.log_path}")
            try:
                self.request("GET", "/admin/login/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError("gunicorn did not answer within 60 s") from None
                time.sleep(0.2)

    def worker_pid(self):
        # gunicorn forks its workers from the master; with --workers 1 there is one child.
        children = child_pids(self.process.pid)
        if len(children) != 1:
            raise BenchError(f"expected one gunicorn worker, found {sorted(children)}")
        return children.pop()

    def request(self, method, path, body=None, headers=()):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body,
                         headers={"X-Auth-Token": self.token or "", **dict(headers)})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def json(self, method, path, payload=None, expect=200):
        body = None if payload is None else json.dumps(payload)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, data = self.request(method, path, body, headers)
        if status != expect:
            raise BenchError(f"{method} {path}: HTTP {status} {data[:500]!r}")
        return json.loads(data) if data else None

    def create_image(self, name):
        return self.json("POST", "/v2/images", {"name": name, "disk_format": "raw",
                                                "container_format": "bare"}, expect=201)["id"]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class GlancePeer:
    """A real Glance API (scripts/glance-peer) in its own folder, for figures beside ours.

    It answers the same calls the benchmark makes of the portal (create an image, PUT and
    GET its data) without authentication, so `Client` drives either.
    """

    script = ROOT / "scripts" / "glance-peer"

    def __init__(self, data_dir, log_path):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = None
        self.process = None
        self.token = ""

    def start(self, timeout=1200):
        # The first start installs Glance into its venv (uWSGI is built from source).
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.script), "run", str(self.data_dir), str(self.port)], cwd=ROOT,
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"glance-peer exited with {self.process.returncode}; see "
                                 f"{self.log_path} and {self.data_dir}/log")
            try:
                if self.request("GET", "/healthcheck")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"Glance did not answer within {timeout} s")
            time.sleep(0.5)

    def pids(self):
        """uWSGI's master and its children (the HTTP router and the worker)."""
        return [self.process.pid, *sorted(child_pids(self.process.pid))]

    def version(self):
        result = subprocess.run([str(ROOT / ".venv-glance" / "bin" / "python"), "-c",
                                 "from importlib.metadata import version as v; "
                                 "print(v('glance'), v('glance_store'), v('uWSGI'))"],
                                capture_output=True, text=True)
        return result.stdout.split() if result.returncode == 0 else ["?", "?", "?"]

    request = Portal.request
    json = Portal.json
    create_image = Portal.create_image
    url = Portal.url
    stop = Portal.stop


# The clients ------------------------------------------------------------------------
# curl sends from C with large buffers, so the server is what gets measured; http.client
# with 1 MiB blocks is the fallback where curl is missing.

class Client:
    def __init__(self, portal, work_dir):
        self.portal = portal
        self.work_dir = Path(work_dir)
        self.curl = shutil.which("curl")

    @property
    def name(self):
        return "curl" if self.curl else "http.client (1 MiB blocks)"

    def upload(self, image_id, path, *, chunked):
        """Seconds taken by PUT /v2/images/<id>/file of the file at `path`."""
        target = f"/v2/images/{image_id}/file"
        if self.curl:
            body_path = self.work_dir / "response-body"
            # "Expect:" stops curl from waiting for a 100-continue, which gunicorn does not
            # send: that wait would be timed as upload.
            cmd = [self.curl, "-sS", "-T", str(path), "-X", "PUT", "-o", str(body_path),
                   "-w", "%{http_code}", "-H", "Expect:",
                   "-H", "Content-Type: application/octet-stream",
                   "-H", f"X-Auth-Token: {self.portal.token}"]
            if chunked:
                cmd += ["-H", "Transfer-Encoding: chunked"]
            start = time.perf_counter()
            result = subprocess.run(cmd + [self.portal.url(target)], capture_output=True,
                                    text=True)
            elapsed = time.perf_counter() - start
            status = result.stdout.strip()
            if result.returncode != 0 or status != "204":
                body = body_path.read_text(errors="replace")[:500] if body_path.exists() else ""
                raise BenchError(f"PUT {target} (curl, chunked={chunked}): exit "
                                 f"{result.returncode}, HTTP {status or '-'} {result.stderr} "
                                 f"{body}")
            return elapsed
        headers = {"Content-Type": "application/octet-stream",
                   "X-Auth-Token": self.portal.token}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(os.path.getsize(path))
        conn = http.client.HTTPConnection("127.0.0.1", self.portal.port, timeout=600,
                                          blocksize=MiB)
        try:
            with open(path, "rb") as fh:
                start = time.perf_counter()
                conn.request("PUT", target, body=fh, headers=headers, encode_chunked=chunked)
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
        finally:
            conn.close()
        if response.status != 204:
            raise BenchError(f"PUT {target} (http.client, chunked={chunked}): HTTP "
                             f"{response.status} {data[:500]!r}")
        return elapsed

    def download(self, image_id, size):
        """Seconds taken by GET /v2/images/<id>/file into nowhere (no hashing on the clock)."""
        target = f"/v2/images/{image_id}/file"
        if self.curl:
            cmd = [self.curl, "-sS", "-o", os.devnull, "-w", "%{http_code} %{size_download}",
                   "-H", f"X-Auth-Token: {self.portal.token}", self.portal.url(target)]
            start = time.perf_counter()
            result = subprocess.run(cmd, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            status, _, received = result.stdout.strip().partition(" ")
            if result.returncode != 0 or status != "200" or received != str(size):
                raise BenchError(f"GET {target} (curl): exit {result.returncode}, HTTP "
                                 f"{status or '-'}, {received or '?'} of {size} bytes "
                                 f"{result.stderr}")
            return elapsed
        start = time.perf_counter()
        received = self._get(target, None)
        elapsed = time.perf_counter() - start
        if received != size:
            raise BenchError(f"GET {target}: {received} of {size} bytes")
        return elapsed

    def download_md5(self, image_id):
        """(bytes, md5) of the image's data, in a run of its own that is not timed."""
        md5 = hashlib.md5()
        received = self._get(f"/v2/images/{image_id}/file", md5.update)
        return received, md5.hexdigest()

    def _get(self, target, consume):
        conn = http.client.HTTPConnection("127.0.0.1", self.portal.port, timeout=600)
        try:
            conn.request("GET", target, headers={"X-Auth-Token": self.portal.token})
            response = conn.getresponse()
            if response.status != 200:
                raise BenchError(f"GET {target}: HTTP {response.status} "
                                 f"{response.read()[:500]!r}")
            buf = memoryview(bytearray(MiB))
            received = 0
            while n := response.readinto(buf):
                received += n
                if consume:
                    consume(buf[:n])
            return received
        finally:
            conn.close()


# The run ----------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def system_ticks():
    """(busy in processes, steal) of the whole machine, in clock ticks."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system = fields[0:3]
    steal = fields[7] if len(fields) > 7 else 0
    return user + nice + system, steal


def process_counters(pid):
    """(CPU seconds, minor page faults) of a process so far."""
    # /proc/<pid>/stat counts the threads that have already exited too, such as the
    # hashing threads of a finished upload.
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[7])


def rusage_seconds(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Sample:
    """CPU counters at one instant: the worker, this process, its finished children (curl)."""

    def __init__(self, pid=None):
        self.busy, self.steal = system_ticks()
        # A server of several processes (uWSGI's HTTP router and worker) counts as one.
        pids = pid if isinstance(pid, (list, tuple)) else [pid] if pid else []
        counters = [process_counters(p) for p in pids]
        self.worker = sum(c[0] for c in counters)
        self.faults = sum(c[1] for c in counters)
        self.own = rusage_seconds(resource.RUSAGE_SELF)
        self.children = rusage_seconds(resource.RUSAGE_CHILDREN)


def cpu_between(first, last, seconds):
    # On a machine shared with other work, "others" is what tells a slow figure caused by
    # the portal from one caused by a neighbour; steal is the same for the hypervisor.
    worker = last.worker - first.worker
    client = (last.children - first.children) + (last.own - first.own)
    busy = (last.busy - first.busy) / CLK_TCK
    # Minor faults are memory the worker had to map again: freed buffers that the
    # allocator gave back to the kernel, costly where a VM returns free pages to its host.
    return {"worker": worker, "client": client, "faults": last.faults - first.faults,
            "others": max(0.0, busy - worker - client) / seconds,
            "steal": (last.steal - first.steal) / CLK_TCK / seconds}


def measured(portal, pid, action):
    """Run `action()`: (seconds, memory, cpu) with the worker's RSS and CPU around it."""
    if portal.worker_pid() != pid:
        raise BenchError("the gunicorn worker was replaced during the run")
    # Dirty pages of the previous step would otherwise be written back on this one's clock.
    os.sync()
    exact = reset_peak(pid)
    before = read_status(pid)
    first = Sample(pid)
    seconds = action()
    last = Sample(pid)
    after = read_status(pid)
    if portal.worker_pid() != pid:
        raise BenchError("the gunicorn worker died during a transfer; see the gunicorn log")
    if exact or after["VmHWM"] > before["VmHWM"]:
        growth, bound = after["VmHWM"] - before["VmRSS"], False
    else:  # the peak was reached before this transfer: only a bound is known
        growth, bound = before["VmHWM"] - before["VmRSS"], True
    memory = {"before": before, "after": after, "growth_kib": growth, "bound": bound}
    return seconds, memory, cpu_between(first, last, seconds)


def machine_info(work_dir):
    cpu = mem = ""
    try:
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = next(f"{int(line.split()[1]) // 1024} MiB RAM"
                   for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version
        gunicorn, django = version("gunicorn"), version("Django")
    except Exception:
        gunicorn = django = "?"
    curl = shutil.which("curl")
    curl_version = (subprocess.run([curl, "--version"], capture_output=True, text=True)
                    .stdout.split()[1] if curl else "absent")
    fs = subprocess.run(["df", "-P", str(work_dir)], capture_output=True, text=True).stdout
    device = fs.splitlines()[-1].split()[0] if fs.strip() else "?"
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [
        f"nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {cpu or '?'}, {mem}, "
        f"load average {load}",
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"Django {django}, gunicorn {gunicorn}, curl {curl_version}",
        f"work dir {work_dir} on {device}",
    ]


def print_header(title, work_dir):
    """The benchmark, the command that ran it and the machine it ran on."""
    print(title)
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    for line in machine_info(work_dir):
        print("machine: " + line)


def best_of(repeat, measure):
    """(seconds, other load in CPUs) of the fastest of `repeat` runs of `measure()`."""
    # The fastest of a few runs is the one least disturbed by the rest of the machine.
    results = []
    for _ in range(repeat):
        first = Sample()
        seconds = measure()
        cpu = cpu_between(first, Sample(), seconds)
        results.append((seconds, cpu["others"] + cpu["steal"]))
    return min(results)


def check_record(record, size, local):
    problems = []
    if record.get("status") != "active":
        problems.append(f"status {record.get('status')}")
    if record.get("size") != size:
        problems.append(f"size {record.get('size')} != {size}")
    if record.get("checksum") != local["md5"]:
        problems.append(f"checksum {record.get('checksum')} != md5 of the file {local['md5']}")
    if record.get("os_hash_algo") == "sha512" and record.get("os_hash_value") != local["sha512"]:
        problems.append("os_hash_value != sha512 of the file")
    return problems


UPLOADS = (("upload, Content-Length", False), ("upload, chunked", True))
DOWNLOADS = ("download, first read", "download, cached")


def cached_mib(data_dir, image_id):
    """MiB of an image's file in the page cache (util-linux fincore), or None if unknown."""
    fincore = shutil.which("fincore")
    paths = [path for path in Path(data_dir).rglob(f"*{image_id}*") if path.is_file()]
    if not fincore or len(paths) != 1:
        return None
    result = subprocess.run([fincore, "--bytes", "--noheadings", "--output", "RES",
                             str(paths[0])], capture_output=True, text=True)
    return int(result.stdout) / MiB if result.returncode == 0 else None


def measured_peer(peer, action):
    """Run `action()`: (seconds, None, cpu) with the CPU of all of the peer's processes."""
    os.sync()
    pids = peer.pids()
    first = Sample(pids)
    seconds = action()
    return seconds, None, cpu_between(first, Sample(pids), seconds)


def transfers(server, client, args, src, size, local, measure):
    """The timed uploads and downloads against one server: {label: [(seconds, memory, cpu)]}.

    `measure(action)` times one transfer; `server` is the portal or the Glance peer.
    """
    runs = {label: [] for label in (*(label for label, _ in UPLOADS), *DOWNLOADS)}
    kept, unread = {}, []
    for attempt in range(args.repeat):
        for label, chunked in UPLOADS:
            image_id = server.create_image(f"bench {label}")
            print(f"{label}: PUT /v2/images/{image_id}/file ({client.name}) ...", flush=True)
            read_through(src)
            runs[label].append(measure(lambda: client.upload(image_id, src, chunked=chunked)))
            problems = check_record(server.json("GET", f"/v2/images/{image_id}"), size, local)
            if problems:
                raise BenchError(f"{label}, image {image_id}: " + "; ".join(problems))
            if label not in kept:
                kept[label] = image_id
            if not chunked:
                unread.append(image_id)
            elif kept[label] != image_id:  # later runs only add disk and page cache use
                server.request("DELETE", f"/v2/images/{image_id}")

    # Each image once as it is right after its upload (what of it is still in the page
    # cache depends on the store), then the first one again, now all cached.
    download_id = kept["upload, Content-Length"]
    for label, image_id in [(DOWNLOADS[0], i) for i in unread] + \
            [(DOWNLOADS[1], download_id)] * args.repeat:
        cached = cached_mib(server.data_dir, image_id)
        print(f"{label}: GET /v2/images/{image_id}/file ({client.name}, to nowhere) ..."
              + ("" if cached is None else f" {cached:.0f} MiB of it cached"), flush=True)
        seconds, memory, cpu = measure(lambda: client.download(image_id, size))
        cpu["cached_mib"] = cached
        runs[label].append((seconds, memory, cpu))

    # In downloads of their own after the timed runs, so the md5 computed here costs
    # nothing on the figures.
    print("verifying: md5 of each image's downloaded bytes against its checksum ...",
          flush=True)
    for label, image_id in kept.items():
        record = server.json("GET", f"/v2/images/{image_id}")
        received, md5 = client.download_md5(image_id)
        if received != size or md5 != record.get("checksum"):
            raise BenchError(f"{label}, image {image_id}: downloaded {received} bytes with "
                             f"md5 {md5}, the record says {record.get('size')} bytes with "
                             f"checksum {record.get('checksum')}")
    return runs


def print_log_tail(path, name):
    if path.exists() and path.stat().st_size:
        tail = path.read_text(errors="replace")[-3000:]
        print(f"--- {name} log ({path}), last lines:\n{tail}", file=sys.stderr)


def run(args, work_dir):
    size = args.size_mib * MiB
    src = work_dir / "image.raw"
    print_header("Upload/download benchmark of the Image API", work_dir)
    print(f"image: {args.size_mib} MiB of random bytes; 1 MB = 10^6 bytes, 1 MiB = 2^20 bytes; "
          f"each figure is the best of {args.repeat} run(s)")
    print()

    print(f"making the random file {src} ...", flush=True)
    make_random_file(src, args.size_mib)

    # The file was just written, so it is most likely in the page cache for every reader
    # below, the hashing pass and the uploads alike: the comparison stays fair, and
    # dropping caches needs root and is not reliable in a VM or container anyway.
    print("measuring the limits ...", flush=True)
    local = {}

    def one_pass():
        seconds, digests = hash_file(src, ("md5", "sha512"))
        local.update(digests)
        return seconds

    limits = {"others": 0.0}
    for key, measure in (("hash", one_pass),
                         ("md5", lambda: hash_file(src, ("md5",))[0]),
                         ("sha512", lambda: hash_file(src, ("sha512",))[0]),
                         ("disk", lambda: disk_write(work_dir, size))):
        seconds, others = best_of(args.repeat, measure)
        limits[key] = mbps(size, seconds)
        limits["others"] = max(limits["others"], others)

    portal = Portal(work_dir / "data", work_dir / "gunicorn.log")
    client = Client(portal, work_dir)
    try:
        print("starting the portal (1 gunicorn worker, gthread, 4 threads) ...", flush=True)
        portal.start()
        pid = portal.worker_pid()
        # The first API calls import and set up most of Django; done before any
        # measurement so that the RSS growth is the transfer's, not the warm-up's.
        portal.json("GET", f"/v2/images/{portal.create_image('bench warm-up')}")
        idle = read_status(pid)
        runs = transfers(portal, client, args, src, size, local,
                         lambda action: measured(portal, pid, action))
        final = read_status(pid)
    except BaseException:
        print_log_tail(portal.log_path, "gunicorn")
        raise
    finally:
        portal.stop()

    peer_runs = peer_version = None
    if args.glance:
        peer = GlancePeer(work_dir / "glance", work_dir / "glance-peer.log")
        try:
            print("starting the Glance peer (scripts/glance-peer: uWSGI, 1 worker) ...",
                  flush=True)
            peer.start()
            peer_version = peer.version()
            peer_runs = transfers(peer, Client(peer, work_dir), args, src, size, local,
                                  lambda action: measured_peer(peer, action))
        except BaseException:
            print_log_tail(peer.log_path, "glance-peer")
            print_log_tail(peer.data_dir / "log" / "uwsgi.log", "Glance uWSGI")
            raise
        finally:
            peer.stop()

    report(args, size, limits, runs, idle, final)
    if peer_runs is not None:
        report_peer(size, limits, runs, peer_runs, peer_version)


def print_table(headers, rows):
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*headers).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row).rstrip())


def report(args, size, limits, runs, idle, final):
    hash_limit = limits["hash"]
    print()
    print("Limits of this machine, measured in this run")
    print(f"  one-pass hashing limit (md5 then sha512 on each 1 MiB chunk, one thread): "
          f"{limits['hash']:7.1f} MB/s")
    print(f"    md5 alone {limits['md5']:.1f} MB/s, sha512 alone {limits['sha512']:.1f} MB/s; "
          "the server hashes the two in parallel threads")
    print(f"  disk write (1 MiB writes, then fsync):                                     "
          f"{limits['disk']:7.1f} MB/s")
    print("  The image file was just written and is most likely in the page cache, for the "
          "hashing pass and the uploads alike.")
    if limits["others"] > OTHERS_WARNING:
        print(f"  warning: other processes (or the hypervisor) took up to "
              f"{limits['others']:.2f} CPUs while the limits were measured; they may be "
              "low, and the ratios below high.")
    print()

    def best(label):
        return min(runs[label], key=lambda r: r[0])

    rows = []
    for label, _ in UPLOADS:
        seconds = best(label)[0]
        rate = mbps(size, seconds)
        ratio = rate / hash_limit
        rows.append((label, f"{rate:.1f} MB/s", f"{ratio:.3f}x hashing limit",
                     f">= {TARGET_UPLOAD_RATIO:.1f}x", verdict(ratio >= TARGET_UPLOAD_RATIO),
                     f"{seconds:.2f} s; {rate / limits['disk']:.2f}x disk write"))
    for label in DOWNLOADS:
        seconds = best(label)[0]
        rate = mbps(size, seconds)
        rows.append((label, f"{rate:.1f} MB/s", f"{rate / hash_limit:.2f}x hashing limit",
                     f">= {TARGET_DOWNLOAD_MBPS} MB/s", verdict(rate >= TARGET_DOWNLOAD_MBPS),
                     f"{seconds:.2f} s"))
    # Measured from the RSS before the first upload, not before each one, so that memory
    # kept from one upload to the next counts too; judged on the worst upload, not the best.
    uploads = [memory for label, _ in UPLOADS for _, memory, _ in runs[label]]
    peak = max(memory["after"]["VmHWM"] for memory in uploads)
    growth_mib = (peak - idle["VmRSS"]) / 1024
    bound = any(memory["bound"] for memory in uploads)
    rows.append(("worker peak RSS growth, uploads", f"{growth_mib:.1f} MiB",
                 "upper bound" if bound else "",
                 f"< {TARGET_RSS_GROWTH_MIB} MiB", verdict(growth_mib < TARGET_RSS_GROWTH_MIB),
                 "peak of all uploads - RSS before the first"))

    print_table(("measure", "value", "ratio", "target", "result", "notes"), rows)
    print()

    print("Every run (CPU in seconds; others and steal in CPUs busy on average during the run)")
    for label, results in runs.items():
        for number, (seconds, memory, cpu) in enumerate(results, 1):
            print(f"  {label:<22} #{number}  {mbps(size, seconds):7.1f} MB/s  {seconds:6.2f} s  "
                  f"worker cpu {cpu['worker']:5.2f}  client cpu {cpu['client']:5.2f}  "
                  f"others {cpu['others']:4.2f}  steal {cpu['steal']:4.2f}  "
                  f"worker faults {cpu['faults']:>7}  "
                  f"RSS peak +{memory['growth_kib'] / 1024:.1f} MiB"
                  f"{' (bound)' if memory['bound'] else ''}"
                  + cached_note(cpu))
    busiest = max(cpu["others"] + cpu["steal"] for results in runs.values()
                  for _, _, cpu in results)
    if busiest > OTHERS_WARNING:
        print(f"  warning: other processes (or the hypervisor) took up to {busiest:.2f} CPUs "
              "during a timed run; its figures are likely low. Run again when the machine "
              "is quiet" + (", or with --repeat 3." if args.repeat == 1 else "."))
    print()
    print("Worker memory in KiB (VmHWM is the peak RSS, reset before each transfer where the "
          "kernel allows it)")
    print(f"  idle after warm-up: VmRSS {idle['VmRSS']}, VmHWM {idle['VmHWM']}; at the end: "
          f"VmRSS {final['VmRSS']}, VmHWM {final['VmHWM']}")
    for label, results in runs.items():
        for number, (_, memory, _) in enumerate(results, 1):
            before, after = memory["before"], memory["after"]
            print(f"  {label:<22} #{number}  before: VmRSS {before['VmRSS']:>7} VmHWM "
                  f"{before['VmHWM']:>7}  after: VmRSS {after['VmRSS']:>7} VmHWM "
                  f"{after['VmHWM']:>7}")
    print()
    print("Verified: every uploaded image's checksum, size and os_hash_value match the file; the "
          "md5 of a separate, untimed download of each kept image matches its checksum.")


def cached_note(cpu):
    cached = cpu.get("cached_mib")
    return "" if cached is None else f"  cached before {cached:.0f} MiB"


def report_peer(size, limits, runs, peer_runs, version):
    """The Glance peer's figures beside the portal's, as ratios to the same hashing limit."""
    hash_limit = limits["hash"]
    glance, store, uwsgi = version
    print()
    print(f"Beside a real Glance {glance} (glance_store {store}, uWSGI {uwsgi}, 1 worker, file "
          "store on the same disk, no auth), same file, same client, after the portal")
    rows = []
    for label in (*(label for label, _ in UPLOADS), *DOWNLOADS):
        ours = min(seconds for seconds, _, _ in runs[label])
        theirs = min(seconds for seconds, _, _ in peer_runs[label])
        rows.append((label, f"{mbps(size, ours):.1f} MB/s",
                     f"{mbps(size, ours) / hash_limit:.2f}x",
                     f"{mbps(size, theirs):.1f} MB/s", f"{mbps(size, theirs) / hash_limit:.2f}x",
                     f"{theirs / ours:.2f}"))
    print_table(("measure", "portal", "of hashing", "Glance", "of hashing", "portal/Glance"),
                rows)
    print()
    print("Every Glance run (server cpu: uWSGI's router and worker together)")
    for label, results in peer_runs.items():
        for number, (seconds, _, cpu) in enumerate(results, 1):
            print(f"  {label:<22} #{number}  {mbps(size, seconds):7.1f} MB/s  {seconds:6.2f} s  "
                  f"server cpu {cpu['worker']:5.2f}  client cpu {cpu['client']:5.2f}  "
                  f"others {cpu['others']:4.2f}  steal {cpu['steal']:4.2f}" + cached_note(cpu))


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="size of the random image in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each measure; the best is reported (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work dir (image file, portal and Glance data, logs)")
    parser.add_argument("--dir", default=None,
                        help="parent of the work dir, i.e. the disk measured (default: the "
                             "system temp dir)")
    parser.add_argument("--glance", action="store_true",
                        help="also measure a real Glance API on the same disk "
                             "(scripts/glance-peer; installs .venv-glance on first use)")
    args = parser.parse_args()
    if args.size_mib < 1 or args.repeat < 1:
        parser.error("--size-mib and --repeat must be at least 1")
    return run_in_work_dir(run, args, "portal-bench-")


def run_in_work_dir(run, args, prefix):
    """The exit status of `run(args, work_dir)` in a new folder under `args.dir` (0, 1 when a
    step failed, 130 when interrupted); the folder is removed at the end unless `args.keep`."""
    work_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=args.dir)).resolve()
    # A SIGTERM (or a SIGINT where a background job ignores it) must still stop gunicorn
    # and remove the gigabytes in the work dir: turn it into the exception that does.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        run(args, work_dir)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"\nkept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
