"""`glance md-*` (python-glanceclient) against a live portal: the metadata definitions commands
validate their bodies with the schemas the portal serves, and print what it answers."""
import pytest

from tests.live.clients import glance, list_table, property_table

pytestmark = pytest.mark.live


@pytest.fixture
def cli(live_portal, tmp_path):
    """Run glance as the admin (or as alice with user=True); fails the test on a non-zero
    exit unless ok=False."""

    def run(*args, user=False, ok=True):
        token = live_portal.user_token if user else live_portal.admin_token
        result = glance(live_portal, token, *args, home=tmp_path)
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def namespace(cli, unique_name):
    name = f"OS::Cli::{unique_name}"
    yield name
    cli("md-namespace-update", name, "--protected", "false", ok=False)
    cli("md-namespace-delete", name, ok=False)


def test_glance_md_commands_create_associate_describe_and_delete_a_namespace(cli, namespace):
    types = [row["name"] for row in list_table(cli("md-resource-type-list").stdout)]
    assert types[:1] == ["OS::Glance::Image"] and "OS::Nova::Flavor" in types
    created = property_table(cli("md-namespace-create", namespace, "--visibility", "public",
                                 "--description", "From the CLI").stdout)
    assert (created["namespace"], created["visibility"]) == (namespace, "public")
    cli("md-resource-type-associate", namespace, "--name", "OS::Glance::Image",
        "--prefix", "cli_")
    made = property_table(cli("md-property-create", namespace, "--name", "speed", "--title",
                              "Speed", "--type", "integer",
                              "--schema", '{"type": "integer", "minimum": 1}').stdout)
    assert (made["name"], made["minimum"]) == ("speed", "1")
    assert property_table(cli("md-property-show", namespace, "speed").stdout)["title"] == "Speed"
    shown = property_table(cli("md-namespace-show", namespace, "--resource-type",
                               "OS::Glance::Image").stdout, " ")
    assert shown["properties"] == '["cli_speed"]'
    cli("md-tag-create-multiple", namespace, "--names", "a,b")
    assert [row["name"] for row in list_table(cli("md-tag-list", namespace).stdout)] == ["a", "b"]
    listed = list_table(cli("md-namespace-list", "--resource-types", "OS::Glance::Image").stdout)
    assert namespace in [row["namespace"] for row in listed]

    # alice reads the public namespace and may not change it.
    assert property_table(cli("md-namespace-show", namespace, user=True).stdout)["namespace"] \
        == namespace
    refused = cli("md-namespace-delete", namespace, user=True, ok=False)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr

    cli("md-namespace-update", namespace, "--protected", "true")
    refused = cli("md-namespace-delete", namespace, ok=False)
    assert "protected" in refused.stdout + refused.stderr
    cli("md-namespace-update", namespace, "--protected", "false")
    cli("md-namespace-delete", namespace)
    gone = cli("md-namespace-show", namespace, ok=False)
    assert gone.returncode != 0 and "404" in gone.stdout + gone.stderr
