"""The metadata definitions' JSON schemas, at /v2/schemas/metadefs/<name> as Glance serves
them (glanceclient caches namespace and resource_type; Tempest reads all ten)."""
import jsonschema
import pytest

from tests.metadefs.test_api import NS, create

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


@pytest.mark.parametrize("name, title", [
    ("namespace", "namespace"), ("namespaces", "namespaces"),
    ("resource_type", "resource_type_association"),
    ("resource_types", "resource_type_associations"), ("object", "object"),
    ("objects", "objects"), ("property", "property"), ("properties", "properties"),
    ("tag", "tag"), ("tags", "tags")])
def test_every_metadef_schema_is_served_under_its_glance_name(alice, name, title):
    response = alice.get(f"/v2/schemas/metadefs/{name}")
    assert response.status_code == 200
    assert response.json()["name"] == title


def test_an_unknown_metadef_schema_is_not_found(alice):
    assert alice.get("/v2/schemas/metadefs/nothing").status_code == 404


def test_a_created_namespace_validates_against_the_served_schema(admin):
    body = create(admin, "OS::Test::Valid", properties={"p": {"title": "P", "type": "string"}},
                  objects=[{"name": "o"}], tags=[{"name": "t"}],
                  resource_type_associations=[{"name": "OS::Glance::Image"}])
    jsonschema.validate(body, admin.get("/v2/schemas/metadefs/namespace").json())
    listed = admin.get(NS).json()
    jsonschema.validate(listed, admin.get("/v2/schemas/metadefs/namespaces").json())
