import pytest

from stores.exceptions import InvalidLocation
from stores.locations import Location, redact

ID = "e361ad97-6336-45d9-9c6a-e461ed91126d"


@pytest.mark.parametrize("uri", [
    f"file:///opt/stack/data/glance/images/{ID}",
    f"swift+config://ref1/glance/{ID}",
    f"s3://s3.example.com/images/{ID}",
    f"s3+https://s3.example.com/images/{ID}",
    "https://mirror.example.com/cirros/cirros.img?x=1",
    f"storage://azure/{ID}",
    "rbd://fsid/pool/image/snap",
])
def test_credential_free_uris_round_trip_unchanged(uri):
    assert str(Location.parse(uri)) == uri


def test_seed_swift_uri_parses_into_reference_container_and_object():
    location = Location.parse(f"swift+config://ref1/glance/{ID}")
    assert (location.scheme, location.host, location.container, location.key) == \
        ("swift+config", "ref1", "glance", ID)


def test_file_uri_gives_path_and_key():
    location = Location.parse(f"file:///var/lib/glance/images/fast/{ID}")
    assert location.path == f"/var/lib/glance/images/fast/{ID}"
    assert location.key == ID


@pytest.mark.parametrize("uri, shown", [
    (f"swift+https://acct:user:s3cr3t@auth.example.com/v3/glance/{ID}",
     f"swift+https://auth.example.com/v3/glance/{ID}"),
    (f"s3://AKIA:se/cr+et@s3.example.com/bucket/{ID}", f"s3://s3.example.com/bucket/{ID}"),
    ("https://bob:pw@example.com/x.img", "https://example.com/x.img"),
])
def test_credentials_in_a_stored_uri_are_parsed_but_never_written(uri, shown):
    location = Location.parse(uri)
    assert location.has_credentials
    assert str(location) == shown
    assert redact(uri) == shown


def test_s3_secret_with_a_slash_is_kept_whole():
    location = Location.parse(f"s3://AKIA:se/cr+et@s3.example.com/bucket/{ID}")
    assert (location.user, location.secret, location.container, location.key) == \
        ("AKIA", "se/cr+et", "bucket", ID)


@pytest.mark.parametrize("uri", [
    "file://relative/path",
    "file:///var/lib/glance/images/../../../etc/passwd",
    "file:///var/lib/./images/x",
    "swift+config://ref1/onlycontainer",
    "s3://host/a/b/c/" + ID,
    "gopher://host/x",
    "no-scheme",
    "file:///x\nInjected: header",
])
def test_malformed_or_unsafe_uris_are_refused(uri):
    with pytest.raises(InvalidLocation):
        Location.parse(uri)


def test_redact_hides_an_unparseable_uri():
    assert redact("gopher://x") == "<invalid location>"
