"""Upload a large image from headless Chromium through the portal's upload page.

    flock /tmp/bench.lock .venv/bin/python bench/browser_upload.py [--size-mib 5120]
        [--store cheap] [--keep] [--dir DIR]

What an operator does, end to end: a fresh portal served as `make run` serves it (gunicorn,
gthread, the options of portal/cli.py's SERVE_DEFAULTS, one worker so that one RSS tells
the server's memory), the admin signs in with Chromium, fills in the upload form, picks
the store from the dropdown, chooses the file and presses Upload. The benchmark reads the
progress bar every half second until the page says the image is uploaded, then checks the
image through the API. Figures: time and MB/s against this machine's one-pass md5+sha512
hashing limit measured in the same run, the RSS of the gunicorn worker, of this process,
of Playwright's driver and of Chromium. See bench/README.md.

Exit status: 0 when every step worked, whatever the speed (this is a measurement, not a
test); 1 when one failed (the server did not start, the progress bar went backwards or
never reached 100 %, the page reported an error, a checksum differs).
"""
import argparse
import ast
import hashlib
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.upload_download import (  # noqa: E402
    BIN, CLK_TCK, BenchError, Portal, check_record, free_port, hash_file,
    mbps, print_header, process_counters, read_status, read_through, reset_peak, run_in_work_dir,
    system_ticks, verdict)

MiB = 2**20
TARGET_RSS_GROWTH_MIB = 50
POLL_SECONDS = 0.5
# No movement of the progress bar (or, after 100 %, no answer) for this long is a stall.
STALL_SECONDS = 300
# The first sector of a disk ends in 0x55AA when it holds a boot record: random bytes that
# happen to end that way are refused as a broken MBR, as Glance refuses them.
MBR_SIGNATURE = slice(510, 512), b"\x55\xaa"


def source_literal(path, name):
    """The literal assigned to `name` at the top of a Python file, read without importing it.

    tests/browser/conftest.py holds Chromium's flags and portal/cli.py gunicorn's options;
    importing either would load Django (the test factories) or Celery (the `portal` package)
    into this process, whose RSS is one of the figures.
    """
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise BenchError(f"{path} no longer assigns {name} a literal")


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = source_literal(ROOT / "tests" / "browser" / "conftest.py", "CHROMIUM_ARGS")
SERVE_DEFAULTS = source_literal(ROOT / "portal" / "cli.py", "SERVE_DEFAULTS")


def write_random_file(path, size_mib):
    """Random bytes, 1 MiB at a time, hashed on their way to the disk: {md5, sha512}."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(path, "wb") as fh:
        for index in range(size_mib):
            block = os.urandom(MiB)
            while index == 0 and block[MBR_SIGNATURE[0]] == MBR_SIGNATURE[1]:
                block = os.urandom(MiB)
            md5.update(block)
            sha512.update(block)
            fh.write(block)
    return {"md5": md5.hexdigest(), "sha512": sha512.hexdigest()}


# Processes ------------------------------------------------------------------------------

def children(pid):
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:  # the process ended meanwhile
        pass
    return found


def descendants(pid):
    found, todo = [], children(pid)
    while todo:
        found.append(todo.pop())
        todo += children(found[-1])
    return found


def kib(pid, key="VmRSS"):
    """A /proc/<pid>/status figure in KiB; 0 for a process that ended (or a zombie)."""
    try:
        return read_status(pid).get(key, 0)
    except OSError:
        return 0


def pss_kib(pid):
    """Proportional set size in KiB: shared pages split among their sharers, so that a sum
    over Chromium's processes, which share most of their memory, means something."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            total += process_counters(pid)[0]
        except OSError:
            pass
    return total


class Watched:
    """The processes whose memory and CPU the run reports, found by their place in the tree:
    gunicorn's worker under its master, Playwright's driver beside it under this process,
    and Chromium (every process the driver started)."""

    def __init__(self, portal):
        self.portal = portal
        self.worker = portal.worker_pid()
        drivers = [pid for pid in children(os.getpid()) if pid != portal.process.pid]
        if len(drivers) != 1:
            raise BenchError(f"expected one Playwright driver process, found {drivers}")
        self.driver = drivers[0]

    def chromium(self):
        return descendants(self.driver)

    def memory(self):
        """{who: RSS in KiB} now; Chromium's is the sum over its processes, of RSS and PSS."""
        browser = self.chromium()
        return {"worker": kib(self.worker), "chromium": sum(map(kib, browser)),
                "chromium_pss": sum(map(pss_kib, browser)), "driver": kib(self.driver),
                "bench": kib(os.getpid())}

    def reset_peaks(self):
        return all([reset_peak(pid) for pid in (self.worker, self.driver, os.getpid(),
                                                *self.chromium())])

    def peaks(self):
        return {"worker": kib(self.worker, "VmHWM"), "driver": kib(self.driver, "VmHWM"),
                "bench": kib(os.getpid(), "VmHWM"),
                "chromium": sum(kib(pid, "VmHWM") for pid in self.chromium())}

    def cpu(self):
        """CPU seconds so far of each, and the whole machine's busy and steal seconds."""
        busy, steal = system_ticks()
        return {"worker": cpu_seconds([self.worker]), "chromium": cpu_seconds(self.chromium()),
                "driver": cpu_seconds([self.driver]), "bench": cpu_seconds([os.getpid()]),
                "machine": busy / CLK_TCK, "steal": steal / CLK_TCK}


# The portal, as `make run` serves it ------------------------------------------------------

class ServedPortal(Portal):
    """scripts/run's steps (migrate, db_analyze, collectstatic, ensure_admin), then gunicorn
    started in the checkout, so that gunicorn.conf.py applies, with SERVE_DEFAULTS: one
    worker instead of two, so that the upload lands in the process whose memory is watched.
    No Celery worker: an upload does not use it."""

    OPTIONS = ["portal.wsgi", *SERVE_DEFAULTS, "--workers", "1"]
    COMMAND = shlex.join(["gunicorn", *OPTIONS])

    def start(self, admin_password):
        self.env["DJANGO_SUPERUSER_PASSWORD"] = admin_password
        for command in (["migrate", "--noinput", "-v0"], ["db_analyze"],
                        ["collectstatic", "--noinput", "-v0"], ["ensure_admin"]):
            self.manage(*command)
        self.token = self.manage("create_token", "admin").strip().splitlines()[-1]
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), *self.OPTIONS, "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                return self.request("GET", "/healthcheck")
            except OSError:
                time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer within 60 s (exit status "
                         f"{self.process.poll()}); see {self.log_path}")

    def warm_up(self, store):
        """A 1 MiB upload through the API, so the worker has imported the upload path before
        its RSS is taken."""
        image_id = self.create_image("warm-up")
        status, _, body = self.request("PUT", f"/v2/images/{image_id}/file", bytes(MiB), {
            "Content-Type": "application/octet-stream", "X-Image-Meta-Store": store})
        if status != 204:
            raise BenchError(f"warm-up upload: HTTP {status} {body[:300]!r}")


# The browser ----------------------------------------------------------------------------

# Times taken by the page itself (performance.now()), from the form's submit to the status
# line's "Uploaded": free of the half-second polling step.
WATCH_JS = """() => {
  const form = document.getElementById("upload-form");
  form.addEventListener("submit", () => { window.benchStart = performance.now(); });
  new MutationObserver(() => {
    if (!window.benchEnd && document.getElementById("upload-status").textContent.trim())
      if (document.getElementById("upload-status").className !== "ok"
          || /^Uploaded/.test(document.getElementById("upload-status").textContent))
        window.benchEnd = performance.now();
  }).observe(document.getElementById("upload-status"), {childList: true, subtree: true,
                                                      characterData: true, attributes: true});
}"""
READ_JS = """() => ({
  value: document.getElementById("upload-progress").value,
  percent: document.getElementById("upload-percent").textContent,
  bytes: document.getElementById("upload-bytes").textContent,
  rate: document.getElementById("upload-rate").textContent,
  status: document.getElementById("upload-status").textContent,
  failed: document.getElementById("upload-status").className === "error",
  start: window.benchStart || null, end: window.benchEnd || null,
})"""
LOADED = re.compile(r"([\d.]+) MiB of ([\d.]+) MiB")


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/images/$"))


def fill_form(page, name, store, src):
    """The upload form as an operator fills it; (bench RSS before, after choosing the file)."""
    page.goto("/images/upload/")
    offered = page.locator("#store option").evaluate_all("options => options.map(o => o.value)")
    if store not in offered:
        raise BenchError(f"the store dropdown offers {offered}, not {store!r}")
    page.fill("#name", name)
    page.select_option("#store", store)
    page.select_option("#disk_format", "raw")  # random bytes are no qcow2, the default
    page.select_option("#container_format", "bare")
    before = kib(os.getpid())
    # A local browser is handed the path (Playwright's localPaths): nothing is read here.
    page.set_input_files("#file", str(src))
    return before, kib(os.getpid())


def watch_upload(page, watched):
    """Press Upload and read the progress bar until the page says how it ended.

    Returns (samples, final): each sample is (seconds since the click, the page's figures,
    the processes' RSS); final is the last reading, with the page's own start and end."""
    page.evaluate(WATCH_JS)
    samples = []
    clicked = time.monotonic()
    page.click("#upload-button")
    moved = clicked
    while True:
        reading = page.evaluate(READ_JS)
        now = time.monotonic()
        if not samples or reading["value"] != samples[-1][1]["value"] or \
                reading["bytes"] != samples[-1][1]["bytes"]:
            moved = now
        samples.append((now - clicked, reading, watched.memory()))
        if reading["end"] is not None:
            return samples, reading
        if now - moved > STALL_SECONDS:
            raise BenchError(f"the progress bar has not moved for {STALL_SECONDS} s at "
                             f"{reading['percent']} ({reading['bytes']})")
        if len(samples) % int(5 / POLL_SECONDS) == 0:
            print(f"  {now - clicked:6.1f} s  {reading['percent']:>5}  {reading['bytes']:<28} "
                  f"{reading['rate']:>12}  worker RSS {samples[-1][2]['worker'] / 1024:.0f} MiB",
                  flush=True)
        page.wait_for_timeout(POLL_SECONDS * 1000)


def check_progress(samples, final, size_mib):
    """Problems with the progress bar: it must only go up, and its last report before the
    page said "Uploaded" must be the whole file."""
    problems = []
    for what, values in (
            ("progress bar", [reading["value"] for _, reading, _ in samples]),
            ("byte count", [float(m.group(1)) for _, reading, _ in samples
                            if (m := LOADED.search(reading["bytes"]))])):
        backwards = [(a, b) for a, b in zip(values, values[1:]) if b < a]
        if backwards:
            problems.append(f"the {what} went backwards {len(backwards)} time(s), e.g. "
                            f"{backwards[0][0]} -> {backwards[0][1]}")
    loaded = LOADED.search(final["bytes"])
    if final["failed"] or not final["status"].startswith("Uploaded"):
        problems.append(f"the page says: {final['status']!r}")
    if final["value"] != 100 or final["percent"].strip() != "100 %":
        problems.append(f"the progress bar ended at {final['value']} ({final['percent']})")
    if not loaded or loaded.group(1) != loaded.group(2) or \
            float(loaded.group(2)) != round(size_mib, 1):
        problems.append(f"the last progress report was {final['bytes']!r}, not the whole "
                        f"{size_mib:.1f} MiB")
    return problems


def playwright_version():
    from importlib.metadata import version
    return version("playwright")


# The run --------------------------------------------------------------------------------

def run(args, work_dir):
    # Playwright's driver and Chromium put their profile and scratch files under TMPDIR:
    # inside the work dir, they go with it.
    (work_dir / "tmp").mkdir()
    os.environ["TMPDIR"] = str(work_dir / "tmp")
    from playwright.sync_api import sync_playwright

    size = args.size_mib * MiB
    src = work_dir / "image.raw"
    print_header("Browser upload benchmark: the portal's upload page in headless Chromium",
                 work_dir)
    print(f"image: {args.size_mib} MiB of random bytes into store {args.store!r}; "
          "1 MB = 10^6 bytes, 1 MiB = 2^20 bytes")
    free = shutil.disk_usage(work_dir).free
    if free < 2 * size + 2**30:
        raise BenchError(f"{free / 2**30:.1f} GiB free in {work_dir}; the file and its stored "
                         f"copy need {(2 * size + 2**30) / 2**30:.1f} GiB")
    print()

    print(f"making the random file {src}, hashing it as it is written ...", flush=True)
    digests = write_random_file(src, args.size_mib)
    print("measuring the one-pass hashing limit (md5 then sha512 on each 1 MiB chunk, one "
          "thread) ...", flush=True)
    read_through(src)
    seconds, again = hash_file(src, ("md5", "sha512"))
    if again != digests:
        raise BenchError("the file read back hashes differently from what was written")
    hash_limit = mbps(size, seconds)

    portal = ServedPortal(work_dir / "data", work_dir / "gunicorn.log")
    password = secrets.token_urlsafe(16)
    figures = {"hash_limit": hash_limit}
    try:
        print(f"starting the portal: {ServedPortal.COMMAND} (and gunicorn.conf.py) ...",
              flush=True)
        portal.start(password)
        portal.warm_up(args.store)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            figures["browser"] = f"Chromium {browser.version}, Playwright {playwright_version()}"
            context = browser.new_context(base_url=portal.url(""))
            context.set_default_timeout(60_000)
            page = context.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            watched = Watched(portal)
            print(f"signing in as admin, filling the form, choosing {src.name} ...", flush=True)
            sign_in(page, "admin", password)
            figures["bench_rss"] = fill_form(page, f"browser upload {args.size_mib} MiB",
                                             args.store, src)
            read_through(src)
            os.sync()  # earlier dirty pages (the random file) must not be written on our clock
            figures["exact_peaks"] = watched.reset_peaks()
            figures["before"] = watched.memory()
            cpu_before = watched.cpu()
            print("uploading: seconds since the click, the page's progress, bytes and rate",
                  flush=True)
            samples, final = watch_upload(page, watched)
            figures["cpu"] = {k: v - cpu_before[k] for k, v in watched.cpu().items()}
            figures["peaks"] = watched.peaks()
            figures["after"] = watched.memory()
            figures["samples"], figures["final"], figures["errors"] = samples, final, errors
            problems = check_progress(samples, final, args.size_mib)
            if problems:
                raise BenchError("; ".join(problems))
            page.click("#image-link")
            figures["page_status"] = page.locator("h1 .status").first.text_content().strip()
            image_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            browser.close()
        record = portal.json("GET", f"/v2/images/{image_id}")
        problems = check_record(record, size, digests)
        if record.get("os_hash_algo") != "sha512":
            problems.append(f"os_hash_algo {record.get('os_hash_algo')}")
        if record.get("stores") != args.store:
            problems.append(f"stored in {record.get('stores')!r}, not {args.store!r}")
        if figures["page_status"] != "active":
            problems.append(f"the image page says {figures['page_status']!r}")
        if problems:
            raise BenchError(f"image {image_id}: " + "; ".join(problems))
        figures["image_id"] = image_id
        time.sleep(2)  # what the worker keeps once the request is over, not while it ends
        figures["settled"] = read_status(watched.worker)["VmRSS"]
    except BaseException:
        if portal.log_path.exists() and portal.log_path.stat().st_size:
            tail = portal.log_path.read_text(errors="replace")[-3000:]
            print(f"--- gunicorn log ({portal.log_path}), last lines:\n{tail}", file=sys.stderr)
        raise
    finally:
        portal.stop()
    report(args, size, figures)


def report(args, size, figures):
    final, samples, cpu = figures["final"], figures["samples"], figures["cpu"]
    before, after, peaks = figures["before"], figures["after"], figures["peaks"]
    seconds = (final["end"] - final["start"]) / 1000
    rate = mbps(size, seconds)
    full = next(t for t, reading, _ in samples if reading["value"] == 100)
    moving = next((t for t, reading, _ in samples if reading["value"] > 0), full)
    growth = (peaks["worker"] - before["worker"]) / 1024
    chromium_peak = max(memory["chromium"] for _, _, memory in samples)
    pss_peak = max(memory["chromium_pss"] for _, _, memory in samples)
    others = max(0.0, cpu["machine"] - cpu["worker"] - cpu["chromium"] - cpu["driver"]
                 - cpu["bench"]) / seconds
    bound = "" if figures["exact_peaks"] else " (peaks since start: the kernel refused a reset)"

    def mib(k):
        return f"{k / 1024:.0f} MiB"

    print()
    print(f"Summary ({args.size_mib} MiB, store {args.store}, image {figures['image_id']})")
    print(f"  upload through the page: {seconds:.1f} s, {rate:.1f} MB/s = "
          f"{rate / figures['hash_limit']:.2f}x the one-pass hashing limit "
          f"({figures['hash_limit']:.1f} MB/s); from the submit to \"Uploaded\"")
    print(f"  progress bar: {len(samples)} readings, only rising, reached 100 % "
          f"({final['bytes']}) {full:.1f} s after the click (first movement at {moving:.1f} s); "
          f"the page's last rate {final['rate']}")
    print("  image: active on the image page and in the API; size, checksum (md5) and "
          "os_hash_value (sha512) equal the file's")
    print(f"  gunicorn worker RSS: before {mib(before['worker'])}, peak {mib(peaks['worker'])} "
          f"(+{growth:.1f} MiB; target < {TARGET_RSS_GROWTH_MIB} MiB: "
          f"{verdict(growth < TARGET_RSS_GROWTH_MIB)}), after {mib(after['worker'])}, "
          f"2 s later {mib(figures['settled'])}{bound}")
    bench_before, bench_chosen = figures["bench_rss"]
    print(f"  this process RSS: {mib(bench_before)} before choosing the file, "
          f"{mib(bench_chosen)} after, peak during the upload {mib(peaks['bench'])}; "
          f"Playwright's driver: {mib(before['driver'])} before, peak {mib(peaks['driver'])}")
    print(f"  Chromium ({figures['browser']}), sums over its processes: PSS before "
          f"{mib(before['chromium_pss'])}, peak {mib(pss_peak)}, after "
          f"{mib(after['chromium_pss'])}; RSS before {mib(before['chromium'])}, peak "
          f"{mib(chromium_peak)}, after {mib(after['chromium'])} (peaks as sampled every "
          f"{POLL_SECONDS} s; each process's own RSS peak, summed: {mib(peaks['chromium'])})")
    print(f"  CPU seconds during the upload: worker {cpu['worker']:.1f}, Chromium "
          f"{cpu['chromium']:.1f}, driver {cpu['driver']:.1f}, this process {cpu['bench']:.1f}; "
          f"others {others:.2f} CPUs and steal {cpu['steal'] / seconds:.2f} CPUs on average")
    if figures["errors"]:
        print("  the browser's console reported: " + "; ".join(figures["errors"][:5]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=5120,
                        help="size of the random image in MiB (default 5120)")
    parser.add_argument("--store", default="cheap",
                        help="the store picked in the dropdown (default cheap, not the "
                             "default store, so that the choice is seen to count)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work dir (image file, portal data, gunicorn log)")
    parser.add_argument("--dir", default=None,
                        help="parent of the work dir (default: the system temp dir)")
    args = parser.parse_args()
    if args.size_mib < 1:
        parser.error("--size-mib must be at least 1")
    return run_in_work_dir(run, args, "portal-bench-browser-")


if __name__ == "__main__":
    sys.exit(main())
