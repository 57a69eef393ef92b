import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWIFT_AIO = ROOT / "scripts" / "swift-aio"


@pytest.fixture(scope="session")
def swift_env():
    """Credentials of the Swift all-in-one (started by scripts/swift-aio, idempotently)."""
    subprocess.run(["bash", str(SWIFT_AIO), "start"], check=True, capture_output=True)
    out = subprocess.run(["bash", str(SWIFT_AIO), "env"], check=True, capture_output=True,
                         text=True).stdout
    env = {}
    for line in out.splitlines():
        for word in shlex.split(line.removeprefix("export ")):
            key, _, value = word.partition("=")
            env[key] = value
    return env


@pytest.fixture
def swift_aio(swift_env):
    """Start/stop daemons of the Swift all-in-one; whatever a test stops is restarted after."""

    class Control:
        env = swift_env

        def stop(self, *names):
            subprocess.run(["bash", str(SWIFT_AIO), "stop", *names], check=True,
                           capture_output=True)

        def start(self):
            subprocess.run(["bash", str(SWIFT_AIO), "start"], check=True, capture_output=True)

    control = Control()
    yield control
    control.start()


@pytest.fixture
def unique_name():
    """A container/bucket name no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def file_store(tmp_path):
    from stores.backends.file import FileStore

    root = tmp_path / "store"
    root.mkdir()
    return FileStore("local", root=root, description="test file store")


@pytest.fixture
def storage_store(tmp_path):
    """A generic Django storage backend (Django's own FileSystemStorage) as a store."""
    from stores.backends.storage import StorageStore

    return StorageStore("generic", storage="django.core.files.storage.FileSystemStorage",
                        options={"location": str(tmp_path / "generic")})


@pytest.fixture
def swift(swift_env):
    """A raw swiftclient connection, to look at what a driver left in Swift."""
    from swiftclient import Connection

    conn = Connection(authurl=swift_env["SWIFT_AUTH_URL"], user=swift_env["SWIFT_USER"],
                      key=swift_env["SWIFT_KEY"], retries=0)
    yield conn
    conn.close()


@pytest.fixture
def s3(swift_env):
    """A raw boto3 client on the S3 API, to look at what a driver left in a bucket."""
    import boto3
    import botocore.config

    return boto3.client("s3", endpoint_url=swift_env["S3_ENDPOINT_URL"],
                        region_name=swift_env["S3_REGION"],
                        aws_access_key_id=swift_env["S3_ACCESS_KEY"],
                        aws_secret_access_key=swift_env["S3_SECRET_KEY"],
                        config=botocore.config.Config(s3={"addressing_style": "path"}))


@pytest.fixture
def swift_container(swift, unique_name):
    """A container name of the test's own; it and its segments container are removed after."""
    from tests.swift_containers import remove_with_segments

    yield unique_name
    remove_with_segments(swift, unique_name)


@pytest.fixture
def s3_bucket(s3, unique_name):
    """A bucket name of the test's own; the bucket and any unfinished uploads go after."""
    from botocore.exceptions import ClientError

    yield unique_name
    try:
        for upload in s3.list_multipart_uploads(Bucket=unique_name).get("Uploads", ()):
            s3.abort_multipart_upload(Bucket=unique_name, Key=upload["Key"],
                                      UploadId=upload["UploadId"])
        for entry in s3.list_objects_v2(Bucket=unique_name).get("Contents", ()):
            s3.delete_object(Bucket=unique_name, Key=entry["Key"])
        s3.delete_bucket(Bucket=unique_name)
    except ClientError:
        pass


@pytest.fixture
def swift_store(swift_env, swift_container):
    from stores.backends.swift import SwiftStore

    return SwiftStore("swift", auth_url=swift_env["SWIFT_AUTH_URL"],
                      user=swift_env["SWIFT_USER"], key=swift_env["SWIFT_KEY"],
                      container=swift_container, reference="ref1")


@pytest.fixture
def s3_store(swift_env, s3_bucket):
    from stores.backends.s3 import S3Store

    return S3Store("s3", endpoint_url=swift_env["S3_ENDPOINT_URL"],
                   access_key=swift_env["S3_ACCESS_KEY"], secret_key=swift_env["S3_SECRET_KEY"],
                   region=swift_env["S3_REGION"], bucket=s3_bucket)


@pytest.fixture(params=["file", "storage", "swift", "s3"])
def store(request):
    """Every writable driver: the contract tests run against each."""
    return request.getfixturevalue(f"{request.param}_store")


class DiskImages(dict):
    """{name: Path} of small disk images made by qemu-img, and what qemu-img says of them."""

    def info(self, name, fmt=None):
        """`qemu-img info --output=json` of the image, read as `fmt` (default: probed)."""
        options = ["-f", fmt] if fmt else []
        return json.loads(subprocess.run(
            ["qemu-img", "info", *options, "--output=json", str(self[name])], check=True,
            capture_output=True, text=True).stdout)

    def virtual_size(self, name, fmt=None):
        return self.info(name, fmt)["virtual-size"]


def _iso_image(path, blocks=200):
    """An ISO 9660 volume: a primary volume descriptor at sector 16, then the terminator
    (no ISO tool ships with qemu-utils)."""
    data = bytearray(blocks * 2048)
    pvd = 16 * 2048
    data[pvd:pvd + 7] = b"\x01CD001\x01"
    data[pvd + 80:pvd + 88] = blocks.to_bytes(4, "little") + blocks.to_bytes(4, "big")
    data[pvd + 128:pvd + 132] = (2048).to_bytes(2, "little") + (2048).to_bytes(2, "big")
    data[pvd + 2048:pvd + 2055] = b"\xffCD001\x01"
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def disk_images(tmp_path_factory):
    """Good images of each disk format and the unsafe shapes, made once per session.

    Good: raw, gpt and mbr (partitioned raw disks), qcow2, vmdk (monolithicSparse),
    vmdk-stream (streamOptimized), vhd (dynamic), vhd-fixed, vhdx, vdi, iso, iso-hybrid.
    Unsafe: qcow2-backing (a backing file), qcow2-data-file (an external data file),
    qcow2-unknown-feature, qcow2-iso (a polyglot), vmdk-flat (a monolithicFlat descriptor)
    and vmdk-split (a twoGbMaxExtentSparse descriptor), whose descriptors name other files,
    qed, luks (refused unless claimed as what they are, and QED is never allowed).
    """
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (Debian: qemu-utils)")
    folder = tmp_path_factory.mktemp("disk-images")

    def qemu_img(*args):
        # In the folder, so that relative backing, data and extent file names land there.
        subprocess.run(["qemu-img", *args], cwd=folder, check=True, capture_output=True)

    images = DiskImages()
    raw = folder / "disk.raw"
    # An empty first sector: random bytes may end it with the 0x55AA mark of a boot record,
    # which reads as a broken MBR (1 time in 65536) and is refused as such.
    raw.write_bytes(bytes(512) + os.urandom(3 * 2**20 + 2 * 512))  # whole sectors
    images["raw"] = raw
    made = {"qcow2": ("qcow2", "disk.qcow2", []),
            "vmdk": ("vmdk", "disk.vmdk", []),
            "vmdk-stream": ("vmdk", "stream.vmdk", ["-o", "subformat=streamOptimized"]),
            "vhd": ("vpc", "disk.vhd", []),
            "vhd-fixed": ("vpc", "fixed.vhd", ["-o", "subformat=fixed"]),
            "vhdx": ("vhdx", "disk.vhdx", []),
            "vdi": ("vdi", "disk.vdi", []),
            "qcow2-backing": ("qcow2", "top.qcow2", ["-b", "disk.qcow2", "-F", "qcow2"]),
            "qcow2-data-file": ("qcow2", "external.qcow2", ["-o", "data_file=external.data"]),
            "vmdk-flat": ("vmdk", "flat.vmdk", ["-o", "subformat=monolithicFlat"]),
            "vmdk-split": ("vmdk", "split.vmdk", ["-o", "subformat=twoGbMaxExtentSparse"]),
            "qed": ("qed", "disk.qed", []),
            "luks": ("luks", "disk.luks", ["--object", "secret,id=key,data=secret",
                                           "-o", "key-secret=key"])}
    for name, (fmt, file_name, options) in made.items():
        size = {"vhd-fixed": "3M", "luks": "4M"}.get(name, "64M")
        for attempt in range(5):
            try:
                qemu_img("create", "-q", "-f", fmt, *options, file_name, size)
                break
            except subprocess.CalledProcessError:
                # LUKS times its key derivation, which fails on a busy machine ("Unable
                # to get accurate CPU usage"); another try is the cure.
                if attempt == 4:
                    raise
        images[name] = folder / file_name
    _iso_image(folder / "disk.iso")
    images["iso"] = folder / "disk.iso"
    _patched_images(folder, images)
    return images


def _patched_images(folder, images):
    """The shapes no tool makes on purpose, patched into real images.

    qcow2-unknown-feature: an incompatible-feature bit no reader knows (bit 63), which
    tells every reader to refuse the image. qcow2-iso: a qcow2 that is also an ISO 9660
    volume (the descriptors at 32 KiB lie in the qcow2's unused header cluster), each
    reader seeing another disk. iso-hybrid: an ISO with an MBR in front, as bootable ISOs
    have. gpt and mbr: raw disks partitioned by sfdisk (Debian: fdisk).
    """
    qcow2 = images["qcow2"].read_bytes()
    unknown = bytearray(qcow2)
    unknown[72] |= 0x80  # incompatible_features, a big-endian u64 at 72
    images["qcow2-unknown-feature"] = folder / "unknown-feature.qcow2"
    images["qcow2-unknown-feature"].write_bytes(bytes(unknown))
    iso = images["iso"].read_bytes()
    polyglot = bytearray(qcow2)
    polyglot[32768:36864] = iso[32768:36864]
    images["qcow2-iso"] = folder / "polyglot.qcow2"
    images["qcow2-iso"].write_bytes(bytes(polyglot))
    hybrid = bytearray(iso)
    # One bootable partition over the whole volume, and the boot record's mark.
    hybrid[446:462] = bytes([0x80, 0, 2, 0, 0x17, 0, 0, 0]) + (0).to_bytes(4, "little") + \
        (len(iso) // 512).to_bytes(4, "little")
    hybrid[510:512] = b"\x55\xaa"
    images["iso-hybrid"] = folder / "hybrid.iso"
    images["iso-hybrid"].write_bytes(bytes(hybrid))
    for label, table in (("gpt", "label: gpt\n,,L\n"), ("mbr", "label: dos\n,,83\n")):
        path = folder / f"{label}.raw"
        with open(path, "wb") as f:
            f.truncate(8 * 2**20)
        subprocess.run(["sfdisk", "-q", str(path)], input=table, text=True, check=True,
                       capture_output=True)
        images[label] = path


@pytest.fixture
def payload():
    # Several 1 MiB chunks and an odd tail.
    from tests.factories import random_data
    return random_data(3 * 2**20 + 17)


@pytest.fixture
def file_stores(settings, tmp_path):
    """The portal configured with two file stores, `fast` (default) and `cheap`, in tmp_path."""
    roots = {name: tmp_path / "stores" / name for name in ("fast", "cheap")}
    for root in roots.values():
        root.mkdir(parents=True)
    settings.STORES = {
        name: {"BACKEND": "stores.backends.file.FileStore", "OPTIONS": {"root": str(root)},
               "DESCRIPTION": f"{name} disk", "WEIGHT": weight}
        for (name, root), weight in zip(roots.items(), (100, 50))
    }
    settings.DEFAULT_STORE = "fast"
    return roots


@pytest.fixture
def portal_with_swift(settings, file_stores, swift_env, swift_container):
    """The two file stores plus a Swift store `swift` (reference ref1) in its own container."""
    settings.STORES = {**settings.STORES, "swift": {
        "BACKEND": "stores.backends.swift.SwiftStore",
        "OPTIONS": {"auth_url": swift_env["SWIFT_AUTH_URL"], "user": swift_env["SWIFT_USER"],
                    "key": swift_env["SWIFT_KEY"], "container": swift_container,
                    "reference": "ref1"},
        "DESCRIPTION": "Swift", "WEIGHT": 10}}
    from stores.registry import get_store

    return get_store("swift")


@pytest.fixture(scope="session")
def web_server(tmp_path_factory):
    """A web server the portal is allowed to web-download from (operator allow-list)."""
    from tests.live.server import serve

    server = serve(tmp_path_factory.mktemp("web"))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def live_portal(tmp_path_factory, swift_env, web_server):
    """A portal under gunicorn with a Celery worker on Redis, and stores file (default),
    cheap, swift (reference ref1) and s3; shared by the live and the browser tests."""
    from tests.live.server import CLEAN_STORES, PORTAL_TOML, Portal

    data_dir = tmp_path_factory.mktemp("portal-data")
    for name in ("file", "cheap"):
        (data_dir / "images" / name).mkdir(parents=True)
    bucket = f"live{os.getpid()}"
    config = data_dir / "portal.toml"
    config.write_text(PORTAL_TOML.format(data=data_dir, env=swift_env, bucket=bucket,
                                         web_port=web_server.server_address[1]))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    # A real Redis as the Celery broker, on a queue of this session's own.
    env.update(PORTAL_DATA_DIR=str(data_dir), PORTAL_CONFIG=str(config),
               CELERY_BROKER_URL="redis://127.0.0.1:6379/0", PORTAL_QUEUE=f"live-{bucket}")
    portal = Portal(data_dir, env)
    portal.bucket, portal.s3_bucket = bucket, f"{bucket}-s3"
    portal.manage("migrate", "--noinput", "-v0")
    portal.admin_token = portal.token("admin", "--admin")
    portal.user_token = portal.token("alice", "--project", "alice-project")
    portal.manage("collectstatic", "--noinput", "-v0")
    portal.start()
    yield portal
    portal.stop()
    portal.manage("shell", "-c", CLEAN_STORES)




@pytest.fixture
def client():
    """pytest-django's test client, asking for JSON as openstacksdk and the pages' scripts do:
    the API answers an error in JSON only to a client that prefers it."""
    from django.test import Client

    return Client(HTTP_ACCEPT="application/json")
