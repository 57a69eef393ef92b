import os
import shlex
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
def swift_store(swift_env, unique_name):
    from stores.backends.swift import SwiftStore

    store = SwiftStore("swift", auth_url=swift_env["SWIFT_AUTH_URL"],
                       user=swift_env["SWIFT_USER"], key=swift_env["SWIFT_KEY"],
                       container=unique_name, reference="ref1")
    yield store
    _purge(store)


@pytest.fixture
def s3_store(swift_env, unique_name):
    from stores.backends.s3 import S3Store

    store = S3Store("s3", endpoint_url=swift_env["S3_ENDPOINT_URL"],
                    access_key=swift_env["S3_ACCESS_KEY"], secret_key=swift_env["S3_SECRET_KEY"],
                    region=swift_env["S3_REGION"], bucket=unique_name)
    yield store
    _purge(store)


def _purge(store):
    try:
        for key in list(store.keys()):
            store.delete(store.uri_for(key))
    except Exception:  # the store may be down on purpose; the container name is unique anyway
        pass


@pytest.fixture(params=["file", "storage", "swift", "s3"])
def store(request):
    """Every writable driver: the contract tests run against each."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def payload():
    # Several 1 MiB chunks and an odd tail.
    return os.urandom(3 * 2**20 + 17)


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
def portal_with_swift(settings, file_stores, swift_env, unique_name):
    """The two file stores plus a Swift store `swift` (reference ref1) in its own container."""
    settings.STORES = {**settings.STORES, "swift": {
        "BACKEND": "stores.backends.swift.SwiftStore",
        "OPTIONS": {"auth_url": swift_env["SWIFT_AUTH_URL"], "user": swift_env["SWIFT_USER"],
                    "key": swift_env["SWIFT_KEY"], "container": unique_name,
                    "reference": "ref1"},
        "DESCRIPTION": "Swift", "WEIGHT": 10}}
    from stores.registry import get_store

    store = get_store("swift")
    yield store
    _purge(store)
