"""The seed story's `glance --os-image-api-version 1` commands, run verbatim with the real
glance CLI against gunicorn: create into the swift and file stores, show, list, download,
update, delete, and the errors, each saying what is left."""
import hashlib
import os
import pty
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.live.server import BIN, ROOT, free_port, wait_for

pytestmark = pytest.mark.live

GLANCE = Path(sys.executable).parent / "glance"
# The rows of the seed story's tables.
SEED_ROWS = {"checksum", "container_format", "created_at", "deleted", "deleted_at",
             "disk_format", "id", "is_public", "min_disk", "min_ram", "name", "owner",
             "protected", "size", "status", "updated_at", "virtual_size"}


def serve(live_portal, header_map):
    """gunicorn on the live portal's database and stores, with `--header-map header_map`."""
    port = free_port()
    log = open(live_portal.data_dir / f"gunicorn-v1-{header_map}.log", "wb")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "gthread", "--threads", "4", "--header-map", header_map],
        cwd=ROOT, env=live_portal.env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/admin/login/", process=process)
    return SimpleNamespace(url=url, process=process, log=log)


def stop(server):
    server.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        # A worker thread stuck on a socket holds the worker: end the arbiter and its worker
        # (their own process group, started above).
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    server.log.close()


@pytest.fixture(scope="module")
def v1_url(live_portal):
    """The live portal: gunicorn.conf.py keeps headers with underscores, which v1 sends."""
    return live_portal.url


@pytest.fixture(scope="module")
def glance_home(tmp_path_factory):
    return tmp_path_factory.mktemp("glance-home")


@pytest.fixture
def glance(v1_url, live_portal, glance_home):
    """Run the glance CLI, v1, as the admin (or `token=`); HOME is a temporary folder so
    nothing is cached in the real one.

    stdin is a terminal, as for a user at a shell: with a stdin that is not one, the client
    reads image data from it (and refuses to update an active image).
    `stdin=subprocess.DEVNULL` makes it send an empty body instead.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(glance_home)

    def run(*args, token=None, url=None, cwd=None, stdin=None):
        terminal, stdin_tty = pty.openpty()
        try:
            return subprocess.run(
                [str(GLANCE), "--os-image-url", url or v1_url,
                 "--os-auth-token", token or live_portal.admin_token,
                 "--os-image-api-version", "1", *args],
                env=env, cwd=cwd, stdin=stdin_tty if stdin is None else stdin,
                capture_output=True, text=True, timeout=60)
        finally:
            os.close(terminal)
            os.close(stdin_tty)

    return run


@pytest.fixture(scope="module")
def cirros(tmp_path_factory):
    """A real qcow2 image file as cirros.img (the portal refuses anything else as qcow2)."""
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (Debian: qemu-utils)")
    folder = tmp_path_factory.mktemp("images")
    path = folder / "cirros.img"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "64M"], check=True,
                   capture_output=True)
    return path


def table(output):
    """{Property: Value} of a glance property table."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("| "):
            key, value = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
            rows[key] = value
    rows.pop("Property", None)
    return rows


def list_ids(output):
    """The ID column of a glance list table, in order."""
    ids = []
    for line in output.splitlines():
        if line.startswith("| "):
            ids.append(line.strip().strip("|").split("|")[0].strip())
    return [i for i in ids if i != "ID"]


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def count_images(live_portal):
    """Every image row, deleted ones included."""
    out = live_portal.manage("shell", "-c",
                             "from images.models import Image; "
                             "print(Image.all_objects.count())")
    return int(out.split()[-1])


def printed(live_portal, code):
    """The last line `code` prints in the live portal's `manage.py shell`."""
    return live_portal.manage("shell", "-c", code).strip().splitlines()[-1]


def locations_left(live_portal, image_id):
    """(status, deleted) of every location row of the image, deleted ones included."""
    return printed(live_portal, "from images.models import ImageLocation; "
                                "print(sorted((l.status, l.deleted) for l in "
                                f"ImageLocation.all_objects.filter(image_id='{image_id}')))")


def make_raw(tmp_path, size=4096):
    path = tmp_path / f"{uuid.uuid4().hex}.raw"
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("store, location", [
    ("swift", "swift+config://ref1/{bucket}/{id}"),
    ("file", "file://{data}/images/file/{id}"),
])
def test_seed_command_stores_the_image_there_and_show_list_download_delete_work(
        glance, live_portal, cirros, tmp_path, swift, store, location):
    data = cirros.read_bytes()
    created = table(ok(glance(
        "image-create", "--store", store, "--name", f"{store}-cirros", "--disk-format", "qcow2",
        "--container-format", "bare", "--is-public", "True", "--file", "cirros.img",
        cwd=cirros.parent)))
    assert set(created) == SEED_ROWS
    image_id = created["id"]
    assert created["status"] == "active"
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    assert created["size"] == str(len(data))
    assert (created["is_public"], created["protected"], created["deleted"]) == \
        ("True", "False", "False")
    assert (created["deleted_at"], created["virtual_size"]) == ("None", str(64 * 2**20))
    assert (created["disk_format"], created["container_format"]) == ("qcow2", "bare")
    assert (created["min_disk"], created["min_ram"]) == ("0", "0")
    assert created["name"] == f"{store}-cirros"

    where = location.format(bucket=live_portal.bucket, id=image_id,
                            data=os.path.realpath(live_portal.data_dir))
    assert live_portal.manage("image_locations", image_id).split() == [where]

    # image-show is a HEAD: v1 headers leave None values out, like Glance v1 did.
    shown = table(ok(glance("image-show", image_id)))
    assert shown == {k: v for k, v in created.items() if v != "None"}
    # Anyone sees a public image.
    assert table(ok(glance("image-show", image_id, token=live_portal.user_token)))["id"] == \
        image_id
    assert image_id in list_ids(ok(glance("image-list", token=live_portal.user_token)))

    out = tmp_path / "downloaded.img"
    ok(glance("image-download", "--file", str(out), image_id))
    assert out.read_bytes() == data

    ok(glance("image-delete", image_id))
    if store == "file":
        assert not Path(where.removeprefix("file://")).exists()
    else:
        _, listing = swift.get_container(live_portal.bucket)
        assert image_id not in [entry["name"] for entry in listing]
    assert locations_left(live_portal, image_id) == "[('deleted', True)]"
    assert image_id not in list_ids(ok(glance("image-list")))
    # Admins still see the deleted row, as Glance v1 showed it; others get nothing.
    gone = table(ok(glance("image-show", image_id)))
    assert (gone["status"], gone["deleted"]) == ("deleted", "True")
    assert "deleted_at" in gone
    assert glance("image-show", image_id, token=live_portal.user_token).returncode != 0


def test_create_without_data_is_queued_and_update_uploads_it(glance, live_portal, tmp_path):
    # stdin /dev/null: the client sends an empty chunked body, which is no data.
    created = table(ok(glance("image-create", "--name", "later", "--disk-format", "raw",
                              "--container-format", "bare", "--property", "os_distro=cirros",
                              "--property", "note=a b%c", stdin=subprocess.DEVNULL)))
    image_id = created["id"]
    assert (created["status"], created["is_public"], created["size"]) == ("queued", "False", "0")
    assert (created["Property 'os_distro'"], created["Property 'note'"]) == ("cirros", "a b%c")

    # v1's image-update has no --store: the data goes to the default store.
    updated = table(ok(glance("image-update", image_id, "--file", str(make_raw(tmp_path, 70000)),
                              "--name", "now-café", "--min-ram", "512", "--property", "extra=1")))
    assert (updated["status"], updated["name"], updated["min_ram"]) == \
        ("active", "now-café", "512")
    assert table(ok(glance("image-show", image_id)))["name"] == "now-café"
    assert (updated["size"], updated["virtual_size"]) == ("70000", "70000")
    assert updated["Property 'os_distro'"] == "cirros" and updated["Property 'extra'"] == "1"
    data = os.path.realpath(live_portal.data_dir)
    assert live_portal.manage("image_locations", image_id).split() == [
        f"file://{data}/images/file/{image_id}"]

    purged = table(ok(glance("image-update", image_id, "--purge-props",
                             "--property", "extra=2")))
    assert [k for k in purged if k.startswith("Property")] == ["Property 'extra'"]
    assert purged["Property 'extra'"] == "2"
    refused = glance("image-update", image_id, "--disk-format", "qcow2")
    assert refused.returncode != 0 and "can be only replaced for a queued image" in refused.stderr

    # A store name is used as it is ("cheap"); a type ("file") takes the first store of it.
    cheap = table(ok(glance("image-create", "--store", "cheap", "--name", "cheap",
                            "--disk-format", "raw", "--container-format", "bare",
                            "--file", str(make_raw(tmp_path)))))
    assert live_portal.manage("image_locations", cheap["id"]).split() == [
        f"file://{data}/images/cheap/{cheap['id']}"]
    ok(glance("image-delete", image_id, cheap["id"]))


def test_image_list_pages_filters_and_sorts_as_the_client_asks(glance, tmp_path):
    batch = uuid.uuid4().hex
    ids = {}
    for name in ("b", "c", "a"):
        created = table(ok(glance("image-create", "--name", f"{batch}-{name}", "--disk-format",
                                  "raw", "--container-format", "bare", "--property",
                                  f"batch={batch}")))
        ids[name] = created["id"]

    # Pages of 2: the client asks again with marker= until a page comes back short.
    listed = list_ids(ok(glance("image-list", "--property-filter", f"batch={batch}",
                                "--page-size", "2")))
    assert listed == [ids["a"], ids["b"], ids["c"]]
    listed = list_ids(ok(glance("image-list", "--property-filter", f"batch={batch}",
                                "--page-size", "1", "--sort-dir", "desc")))
    assert listed == [ids["c"], ids["b"], ids["a"]]
    assert list_ids(ok(glance("image-list", "--name", f"{batch}-b"))) == [ids["b"]]
    assert list_ids(ok(glance("image-list", "--property-filter", f"batch={batch}",
                              "--is-public", "True", "--size-min", "1"))) == []
    # A name finds the image (HEAD by name is a 404, then a list by name).
    assert table(ok(glance("image-show", f"{batch}-c")))["id"] == ids["c"]
    ok(glance("image-delete", *ids.values()))


def test_unknown_store_is_a_clear_error_and_creates_nothing(glance, live_portal, tmp_path):
    before_list = list_ids(ok(glance("image-list", "--all-tenants")))
    before = count_images(live_portal)
    # 32 MiB: the answer comes before the body is read, and the client still gets it.
    result = glance("image-create", "--store", "nfs", "--name", "nowhere", "--disk-format",
                    "qcow2", "--container-format", "bare", "--is-public", "True",
                    "--file", str(make_raw(tmp_path, 32 * 2**20)))
    assert result.returncode != 0
    assert "Store 'nfs' not found" in result.stderr
    assert "file (file), cheap (file), swift (swift), s3 (s3)" in result.stderr
    assert count_images(live_portal) == before
    assert list_ids(ok(glance("image-list", "--all-tenants"))) == before_list


def test_checksum_mismatch_is_400_and_leaves_a_deleted_image_without_data(
        glance, live_portal, tmp_path):
    raw = make_raw(tmp_path)
    image_id = str(uuid.uuid4())
    result = glance("image-create", "--id", image_id, "--store", "file", "--name", "bad-sum",
                    "--disk-format", "raw", "--container-format", "bare",
                    "--checksum", "0" * 32, "--file", str(raw))
    assert result.returncode != 0
    assert "did not match" in result.stderr
    assert hashlib.md5(raw.read_bytes()).hexdigest() in result.stderr
    # What is left: a deleted row (admins see it), no data in the store, its location deleted.
    left = table(ok(glance("image-show", image_id)))
    assert (left["status"], left["deleted"]) == ("deleted", "True")
    assert not (live_portal.data_dir / "images" / "file" / image_id).exists()
    assert locations_left(live_portal, image_id) == "[('deleted', True)]"
    assert image_id not in list_ids(ok(glance("image-list", "--all-tenants")))


def test_a_non_admin_cannot_make_an_image_public(glance, live_portal, tmp_path):
    before = count_images(live_portal)
    result = glance("image-create", "--name", "mine", "--disk-format", "raw",
                    "--container-format", "bare", "--is-public", "True",
                    "--file", str(make_raw(tmp_path)), token=live_portal.user_token)
    assert result.returncode != 0
    assert "Only administrators may make an image public" in result.stderr
    assert count_images(live_portal) == before

    mine = table(ok(glance("image-create", "--name", "mine", "--disk-format", "raw",
                           "--container-format", "bare", "--file", str(make_raw(tmp_path)),
                           token=live_portal.user_token)))
    assert (mine["status"], mine["is_public"]) == ("active", "False")
    refused = glance("image-update", mine["id"], "--is-public", "True",
                     token=live_portal.user_token)
    assert refused.returncode != 0 and "publicize_image" in refused.stderr
    assert table(ok(glance("image-show", mine["id"])))["is_public"] == "False"
    ok(glance("image-delete", mine["id"], token=live_portal.user_token))


def test_another_projects_private_image_is_404(glance, live_portal, v1_url, tmp_path):
    private = table(ok(glance("image-create", "--name", "admins-only", "--disk-format", "raw",
                              "--container-format", "bare", "--is-public", "False",
                              "--file", str(make_raw(tmp_path)))))
    image_id = private["id"]
    result = glance("image-show", image_id, token=live_portal.user_token)
    assert result.returncode != 0
    assert f"No image with a name or ID of '{image_id}' exists." in result.stderr
    headers = {"X-Auth-Token": live_portal.user_token}
    for method in ("HEAD", "GET", "PUT", "DELETE"):
        response = requests.request(method, f"{v1_url}/v1/images/{image_id}", headers=headers)
        assert response.status_code == 404, method
    assert image_id not in list_ids(ok(glance("image-list", "--all-tenants",
                                              token=live_portal.user_token)))
    assert table(ok(glance("image-show", image_id)))["status"] == "active"
    ok(glance("image-delete", image_id))


def test_without_the_header_map_the_create_fails_naming_the_fix(glance, live_portal, cirros):
    """gunicorn's default drops x-image-meta-disk_format and friends: the answer says so
    and nothing is created."""
    server = serve(live_portal, "drop")
    try:
        before = count_images(live_portal)
        result = glance("image-create", "--store", "file", "--name", "file-cirros",
                        "--disk-format", "qcow2", "--container-format", "bare",
                        "--is-public", "True", "--file", str(cirros), url=server.url)
    finally:
        stop(server)
    assert result.returncode != 0
    assert "--header-map dangerous" in result.stderr
    assert count_images(live_portal) == before


def test_raw_requests_get_glance_v1_status_codes_and_headers(v1_url, live_portal):
    """What glanceclient hides (it prints only the message): codes and headers."""
    url = f"{v1_url}/v1/images"
    admin = {"X-Auth-Token": live_portal.admin_token}
    meta = {"x-image-meta-name": "raw", "x-image-meta-disk_format": "raw",
            "x-image-meta-container_format": "bare", "Content-Type": "application/octet-stream"}
    data = os.urandom(1000)

    def post(extra, token=live_portal.admin_token):
        # Asking for JSON errors: `*/*` would get webob's HTML page, as from Glance.
        headers = {**meta, **extra, "X-Auth-Token": token, "Accept": "application/json"}
        return requests.post(url, headers=headers, data=data)

    assert post({"x-image-meta-store": "nfs"}).status_code == 400
    assert post({"x-image-meta-is_public": "True"}, live_portal.user_token).status_code == 403
    assert post({"x-image-meta-checksum": "0" * 32}).status_code == 400
    too_small = post({"x-image-meta-size": "999"})
    assert too_small.status_code == 400
    assert "error" in too_small.json() and too_small.json()["error"]["message"]
    assert requests.get(url + "/detail?name=raw&is_public=None", headers=admin).json() == \
        {"images": []}  # the failed creates left nothing listed
    assert requests.get(url + "/detail", headers={}).status_code == 401

    created = post({"x-image-meta-property-os_distro": "cirros", "x-image-meta-min_ram": "64"})
    assert created.status_code == 201
    image = created.json()["image"]
    assert created.headers["Location"].endswith(f"/v1/images/{image['id']}")
    assert (image["min_ram"], image["properties"]) == (64, {"os_distro": "cirros"})

    head = requests.head(f"{url}/{image['id']}", headers=admin)
    assert head.status_code == 200
    assert head.headers["x-image-meta-checksum"] == hashlib.md5(data).hexdigest()
    assert head.headers["x-image-meta-property-os_distro"] == "cirros"
    assert (head.headers["x-image-meta-is_public"], head.headers["x-image-meta-deleted"]) == \
        ("False", "False")
    assert "x-image-meta-deleted_at" not in head.headers

    got = requests.get(f"{url}/{image['id']}", headers=admin)
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["x-image-meta-size"] == "1000"

    again = requests.put(f"{url}/{image['id']}", data=b"more",
                         headers={**admin, "Content-Type": "application/octet-stream"})
    assert again.status_code == 409
    assert requests.delete(f"{url}/{image['id']}", headers=admin).status_code == 200
    assert requests.get(f"{url}/{image['id']}", headers=admin).status_code == 404


def property_names(live_portal, image_id):
    return printed(live_portal, "from images.models import ImageProperty; "
                                "print(sorted(ImageProperty.objects.filter("
                                f"image_id='{image_id}').values_list('name', flat=True)))")


def test_purge_props_keeps_the_reserved_os_glance_properties(v1_url, live_portal):
    """`x-glance-registry-purge-props` drops the user's properties, never the service's
    os_glance_* ones: the import lock and the import's target stores stay."""
    url = f"{v1_url}/v1/images"
    user = {"X-Auth-Token": live_portal.user_token}
    created = requests.post(url, headers={**user, "x-image-meta-name": "purged",
                                          "x-image-meta-property-extra": "1"})
    assert created.status_code == 201, created.text
    image_id = created.json()["image"]["id"]
    live_portal.manage("shell", "-c",
                       "from images.models import Image; "
                       "from images.services.properties import property_set; "
                       f"image = Image.objects.get(pk='{image_id}'); "
                       "property_set(image, 'os_glance_import_task', 'task-1'); "
                       "property_set(image, 'os_glance_importing_to_stores', 'cheap')")
    purged = requests.put(f"{url}/{image_id}",
                          headers={**user, "x-glance-registry-purge-props": "true",
                                   "x-image-meta-property-kept": "2"})
    assert purged.status_code == 200, purged.text
    assert property_names(live_portal, image_id) == \
        "['kept', 'os_glance_import_task', 'os_glance_importing_to_stores']"
    assert requests.delete(f"{url}/{image_id}", headers=user).status_code == 200
