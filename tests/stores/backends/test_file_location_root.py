"""File stores whose locations name another folder (`location_root`) than the one read."""
import io

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores.backends.file import FileStore
from stores.config import parse
from stores.exceptions import InvalidLocation

GLANCE_ROOT = "/var/lib/glance/images/fast"


@pytest.fixture
def mounted(tmp_path):
    root = tmp_path / "copy" / "fast"
    root.mkdir(parents=True)
    return FileStore("fast", root=root, location_root=GLANCE_ROOT)


def test_locations_are_written_under_location_root_and_bytes_under_root(mounted):
    uri = mounted.save("img-1", io.BytesIO(b"payload"))
    assert uri == f"file://{GLANCE_ROOT}/img-1"
    assert (mounted.root / "img-1").read_bytes() == b"payload"


def test_a_location_under_location_root_is_read_from_root(mounted):
    (mounted.root / "img-2").write_bytes(b"glance bytes")
    uri = f"file://{GLANCE_ROOT}/img-2"
    assert mounted.owns(uri)
    assert mounted.size(uri) == 12
    assert b"".join(mounted.open(uri)) == b"glance bytes"


def test_a_location_under_root_is_still_accepted(mounted):
    (mounted.root / "img-3").write_bytes(b"x")
    assert mounted.key_of(f"file://{mounted.root}/img-3") == "img-3"


@pytest.mark.parametrize("path", [f"{GLANCE_ROOT}/../fast/../../etc/passwd",
                                  f"{GLANCE_ROOT}/sub/img", "/var/lib/glance/images/img",
                                  f"{GLANCE_ROOT}/.."])
def test_paths_outside_location_root_are_refused(mounted, path):
    with pytest.raises(InvalidLocation):
        mounted.key_of(f"file://{path}")


def test_without_location_root_locations_name_root(tmp_path):
    store = FileStore("plain", root=tmp_path)
    assert store.uri_for("k") == f"file://{tmp_path.resolve()}/k"
    assert not store.owns(f"file://{GLANCE_ROOT}/k")


def test_a_relative_location_root_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="location_root"):
        FileStore("fast", root=tmp_path, location_root="relative/dir")


def test_the_configuration_accepts_location_root_for_file_stores(tmp_path):
    config = parse({"stores": {"fast": {"backend": "file", "root": str(tmp_path),
                                        "location_root": GLANCE_ROOT}}},
                   environ={}, base_dir=tmp_path)
    assert config["STORES"]["fast"]["OPTIONS"]["location_root"] == GLANCE_ROOT
