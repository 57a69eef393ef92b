"""The README's run command on a fresh data folder: serves the portal, creates the admin once
(its password in a file, not in the output), and runs a worker that does background copies."""
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import requests

from tests.live.server import ROOT, free_port, wait_for

pytestmark = pytest.mark.live


def start(env):
    process = subprocess.Popen(["bash", "scripts/run"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process


def stop(process):
    os.killpg(process.pid, signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    return out


def manage(env, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def signed_in_as_admin(url, password):
    """Whether the admin's sign-in form takes `admin` and `password`."""
    session = requests.Session()
    session.get(f"{url}/admin/login/", timeout=10)
    response = session.post(f"{url}/admin/login/", allow_redirects=False, timeout=10, data={
        "username": "admin", "password": password, "next": "/admin/",
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    return response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_run_command_serves_creates_admin_once_and_runs_the_worker(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PORTAL_CONFIG", "DJANGO_SUPERUSER_PASSWORD",
                        "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(PORT=str(port), PORTAL_DATA_DIR=str(tmp_path / "data"),
               VENV=str(os.path.dirname(os.path.dirname(sys.executable))))
    password_file = tmp_path / "data" / "admin-password"
    process = start(env)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/admin/login/", timeout=60, process=process)
        assert page.status_code == 200
        assert "csrfmiddlewaretoken" in page.text
        # The local worker picks up a background copy from the folder queue.
        (tmp_path / "img").write_bytes(os.urandom(300_000))
        image_id = next(line.split("|")[2].strip() for line in manage(
            env, "image_create", "--disk-format", "raw", "--container-format", "bare",
            "--file", str(tmp_path / "img")).splitlines() if line.startswith("| id "))
        manage(env, "image_copy", image_id, "--store", "cheap", "--background")
        deadline = time.monotonic() + 30
        while len(manage(env, "image_locations", image_id).split()) < 2:
            assert time.monotonic() < deadline, "the worker did not copy the image"
            time.sleep(0.5)
        assert (tmp_path / "data" / "images" / "cheap" / image_id).read_bytes() == \
            (tmp_path / "img").read_bytes()
        assert signed_in_as_admin(f"http://127.0.0.1:{port}", password_file.read_text().strip())
    finally:
        first_output = stop(process)
    assert f"its password is in {password_file}" in first_output
    assert password_file.read_text().strip() not in first_output
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600

    process = start(env)  # a second start works on the same data and keeps the admin
    try:
        assert wait_for(f"http://127.0.0.1:{port}/admin/login/", timeout=60,
                        process=process).status_code == 200
    finally:
        second_output = stop(process)
    assert "Created user 'admin'" not in second_output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2)


def test_ctrl_c_stops_the_run_command_quietly_and_completely(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PORTAL_CONFIG", "CELERY_BROKER_URL",
                        "DJANGO_SETTINGS_MODULE")}
    env.update(PORT=str(port), PORTAL_DATA_DIR=str(tmp_path / "data"),
               VENV=str(os.path.dirname(os.path.dirname(sys.executable))))
    process = start(env)
    wait_for(f"http://127.0.0.1:{port}/admin/login/", timeout=60, process=process)
    time.sleep(3)                        # the worker and beat up too
    # What the terminal does on Ctrl-C: SIGINT to the foreground process group, the script's.
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    for noise in ("Traceback", "ERROR", "Warning", "WARNING", "cold shutdown", "No hostname",
                  "superuser"):
        assert noise not in out, out
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
    # kombu's exchange tables stay in the data folder, not in the folder it was started from.
    assert (tmp_path / "data" / "queue" / "control" / "portal.exchange").is_file()
