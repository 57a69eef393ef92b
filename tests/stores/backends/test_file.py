import hashlib
import io
import os
import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores.backends.file import WRITE_BEHIND, FileStore
from stores.exceptions import InvalidLocation, ObjectExists, StoreUnavailable


def test_a_location_outside_the_root_is_never_opened(file_store, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"not an image")
    for uri in (f"file://{secret}", f"file://{file_store.root}/../secret",
                f"file://{file_store.root}/sub/secret", "file:///etc/passwd"):
        with pytest.raises(InvalidLocation):
            file_store.open(uri)
        with pytest.raises(InvalidLocation):
            file_store.delete(uri)
    assert secret.read_bytes() == b"not an image"


def test_a_symlink_in_the_root_pointing_out_is_not_followed_by_key_listing(file_store, tmp_path):
    (tmp_path / "outside").write_bytes(b"x")
    os.symlink(tmp_path / "outside", file_store.root / "link")
    assert "link" not in set(file_store.keys())


def test_uri_is_file_url_of_root_and_key(file_store):
    uri = file_store.save("abc", io.BytesIO(b"1"))
    assert uri == f"file://{file_store.root}/abc"


def test_missing_root_is_unhealthy_with_the_reason_and_refuses_writes(tmp_path):
    store = FileStore("gone", root=tmp_path / "nowhere")
    health = store.health()
    assert not health.ok
    assert "does not exist" in health.reason
    with pytest.raises(StoreUnavailable):
        store.save("abc", io.BytesIO(b"1"))
    assert not (tmp_path / "nowhere").exists()


@pytest.fixture
def immutable_root(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    # chattr +i refuses writes even to root, which ignores permission bits.
    if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
        os.chmod(root, 0o555)
        if os.access(root, os.W_OK):
            pytest.skip("cannot make a folder read-only here")
    yield root
    subprocess.run(["chattr", "-i", str(root)], capture_output=True)
    os.chmod(root, 0o755)


def test_a_root_that_is_not_writable_is_unhealthy_with_the_reason(immutable_root):
    health = FileStore("ro", root=immutable_root).health()
    assert not health.ok
    assert "not writable" in health.reason


def test_healthy_store_reports_free_space(file_store):
    health = file_store.health()
    assert health.ok and "MiB free" in health.reason


def test_a_symlink_planted_under_the_key_is_not_written_through(file_store, tmp_path):
    outside = tmp_path / "victim"
    outside.write_bytes(b"precious")
    (file_store.root / "planted").symlink_to(outside)

    with pytest.raises(ObjectExists):
        file_store.save("planted", io.BytesIO(b"overwrite"))

    assert outside.read_bytes() == b"precious"
    assert os.readlink(file_store.root / "planted") == str(outside)


def test_a_dangling_symlink_under_the_key_counts_as_an_existing_object(file_store, tmp_path):
    (file_store.root / "dangling").symlink_to(tmp_path / "nothing-here")

    with pytest.raises(ObjectExists):
        file_store.save("dangling", io.BytesIO(b"data"))

    assert not (tmp_path / "nothing-here").exists()
    assert os.readlink(file_store.root / "dangling") == str(tmp_path / "nothing-here")


def test_a_save_larger_than_the_write_behind_window_keeps_every_byte(file_store):
    # Several write-behind windows, and an odd tail, so eviction ranges cross chunk bounds.
    payload = os.urandom(3 * WRITE_BEHIND + 12345)

    uri = file_store.save("big", io.BytesIO(payload))

    with file_store.open(uri) as reader:
        assert hashlib.sha256(b"".join(reader)).digest() == hashlib.sha256(payload).digest()
    assert file_store.size(uri) == len(payload)


def test_a_save_over_an_earlier_attempt_is_refused_until_delete_partial_removes_it(
        file_store):
    """The store cannot tell an earlier attempt from someone else's file: the write journal
    can, and removes it with delete_partial() before writing again."""
    file_store.save("again", io.BytesIO(b"x" * 5000))
    with pytest.raises(ObjectExists):
        file_store.save("again", io.BytesIO(b"short"))

    file_store.delete_partial("again")
    uri = file_store.save("again", io.BytesIO(b"short"))

    with file_store.open(uri) as reader:
        assert reader.read() == b"short"


def resident_bytes(path):
    """Bytes of `path` in the page cache, as util-linux's fincore counts them."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


@pytest.mark.parametrize("write_behind", [True, False])
def test_write_behind_decides_whether_an_upload_stays_in_the_page_cache(tmp_path, write_behind):
    # No tail kept (cache_tail=0): with write-behind nothing of the upload stays cached.
    store = FileStore("disk", root=tmp_path, write_behind=write_behind, cache_tail=0)
    size = 4 * WRITE_BEHIND

    store.save("image", io.BytesIO(os.urandom(size)))

    resident = resident_bytes(tmp_path / "image")
    if write_behind:
        assert resident < size // 8
    else:
        assert resident == size


def test_write_behind_must_be_a_boolean(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="write_behind"):
        FileStore("disk", root=tmp_path, write_behind="yes")
