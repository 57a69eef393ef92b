"""load_metadefs and export_metadefs: definition files in Glance's format, loaded idempotently."""
import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from metadefs.models import Namespace, ResourceType
from tests.factories import api_client

pytestmark = [pytest.mark.django_db, pytest.mark.engines]

DATA = Path(__file__).resolve().parents[1] / "data" / "metadefs"


def load(folder, *args):
    call_command("load_metadefs", str(folder), *args, stdout=open("/dev/null", "w"),
                 stderr=open("/dev/null", "w"))


def snapshot():
    from metadefs.services import definition_of

    return {ns.namespace: definition_of(ns) for ns in Namespace.objects.all()}


def test_the_files_namespaces_are_served_by_the_api_with_their_properties():
    load(DATA)
    client = api_client("alice")
    shown = client.get("/v2/metadefs/namespaces/OS::Portal::Boot"
                       "?resource_type=OS::Glance::Image").json()
    assert shown["owner"] == "admin" and shown["visibility"] == "public"
    assert set(shown["properties"]) == {"os_secure_boot", "os_boot_delay", "os_boot_label"}
    assert shown["objects"][0]["required"] == ["os_firmware_type"]
    assert [t["name"] for t in shown["tags"]] == ["bootable", "firmware"]
    listed = client.get("/v2/metadefs/namespaces?resource_types=OS::Nova::Flavor").json()
    assert {ns["namespace"] for ns in listed["namespaces"]} == {"OS::Portal::Watchdog",
                                                                "OS::Portal::FlavorQuota"}


def test_loading_twice_changes_nothing():
    load(DATA)
    first = snapshot()
    stamps = dict(Namespace.objects.values_list("namespace", "updated_at"))
    out = StringIO()
    call_command("load_metadefs", str(DATA), stdout=out)
    assert snapshot() == first
    assert dict(Namespace.objects.values_list("namespace", "updated_at")) == stamps
    assert out.getvalue().count("Unchanged") == 3


def test_a_resource_type_first_named_by_a_file_is_added_protected():
    load(DATA)
    assert ResourceType.objects.get(name="OS::Portal::Example").protected is True


def test_a_changed_file_updates_its_namespace_and_drops_what_it_no_longer_says(tmp_path):
    folder = tmp_path / "defs"
    shutil.copytree(DATA, folder)
    load(folder)
    definition = json.loads((folder / "portal-boot.json").read_text())
    definition["description"] = "Changed"
    del definition["properties"]["boot_label"]
    definition["tags"] = [{"name": "bootable"}]
    (folder / "portal-boot.json").write_text(json.dumps(definition))
    load(folder)
    boot = Namespace.objects.get(namespace="OS::Portal::Boot")
    assert boot.description == "Changed"
    assert sorted(boot.properties.values_list("name", flat=True)) == ["boot_delay",
                                                                      "secure_boot"]
    assert list(boot.tags.values_list("name", flat=True)) == ["bootable"]


def test_namespaces_no_file_names_stay_unless_pruned(tmp_path):
    folder = tmp_path / "defs"
    shutil.copytree(DATA, folder)
    load(folder)
    admin = api_client("root", admin=True)
    made = admin.post("/v2/metadefs/namespaces", data={"namespace": "OS::Mine::Own"},
                      content_type="application/json")
    assert made.status_code == 201
    (folder / "portal-flavor-quota.json").unlink()
    load(folder)
    assert Namespace.objects.filter(namespace="OS::Portal::FlavorQuota").exists()
    load(folder, "--prune")
    assert not Namespace.objects.filter(namespace="OS::Portal::FlavorQuota").exists()
    assert Namespace.objects.filter(namespace="OS::Mine::Own").exists()


def test_a_namespace_made_through_the_api_is_not_overwritten_by_a_file(tmp_path):
    admin = api_client("root", admin=True)
    admin.post("/v2/metadefs/namespaces", data={"namespace": "OS::Portal::Boot",
                                                "description": "mine"},
               content_type="application/json")
    load(DATA)
    assert Namespace.objects.get(namespace="OS::Portal::Boot").description == "mine"


def test_export_writes_files_that_load_back_to_the_same_namespaces(tmp_path):
    load(DATA)
    before = snapshot()
    call_command("export_metadefs", str(tmp_path / "out"), stdout=open("/dev/null", "w"))
    assert (tmp_path / "out" / "OS-Portal-Boot.json").exists()
    Namespace.objects.all().delete()
    load(tmp_path / "out")
    assert snapshot() == before


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"display_name": "no namespace"}', "namespace"),
])
def test_a_bad_file_stops_the_load_before_anything_is_written(tmp_path, content, message):
    folder = tmp_path / "defs"
    shutil.copytree(DATA, folder)
    (folder / "zz-bad.json").write_text(content)
    with pytest.raises(CommandError, match=message):
        load(folder)
    assert Namespace.objects.count() == 0


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        load(tmp_path / "absent")
