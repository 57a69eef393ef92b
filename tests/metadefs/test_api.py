"""The metadata definitions API (/v2/metadefs), through HTTP as Tempest drives Glance's."""
import json

import pytest


pytestmark = [pytest.mark.django_db, pytest.mark.engines]

NS = "/v2/metadefs/namespaces"
STANDARD = {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
            "OS::Nova::Aggregate", "OS::Nova::Server"}


def send(client, method, path, body=None, **headers):
    kwargs = {"content_type": "application/json", **headers}
    if body is not None:
        kwargs["data"] = json.dumps(body)
    return getattr(client, method)(path, **kwargs)


def create(client, name, **fields):
    response = send(client, "post", NS, {"namespace": name, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def error_of(response):
    return response.json()["error"]


def test_the_standard_resource_types_are_there_and_protected_from_the_first_migration(alice):
    from metadefs.models import ResourceType

    names = [rt["name"] for rt in alice.get("/v2/metadefs/resource_types").json()["resource_types"]]
    assert STANDARD <= set(names)
    assert set(ResourceType.objects.filter(protected=True).values_list("name", flat=True)) == STANDARD


def test_a_namespace_is_created_with_its_objects_properties_and_tags_and_shown_back(admin):
    body = create(admin, "OS::Test::Full", display_name="Full", description="All parts",
                  visibility="public", protected=True,
                  resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "t_"}],
                  properties={"speed": {"title": "Speed", "type": "integer", "minimum": 1}},
                  objects=[{"name": "Pair", "required": ["a"], "properties": {
                      "a": {"title": "A", "type": "string"}}}],
                  tags=[{"name": "one"}, {"name": "two"}])
    assert body["self"] == f"{NS}/OS::Test::Full"
    assert body["owner"] == admin.project and body["protected"] is True

    shown = admin.get(f"{NS}/OS::Test::Full").json()
    assert shown["schema"] == "/v2/schemas/metadefs/namespace"
    assert shown["properties"] == {"speed": {"title": "Speed", "type": "integer", "minimum": 1}}
    assert [o["name"] for o in shown["objects"]] == ["Pair"]
    assert shown["objects"][0]["required"] == ["a"]
    assert [t["name"] for t in shown["tags"]] == ["one", "two"]
    assert shown["resource_type_associations"][0]["name"] == "OS::Glance::Image"
    assert shown["created_at"].endswith("Z")


def test_show_with_a_resource_type_prefixes_the_property_and_object_names(admin):
    create(admin, "OS::Test::Prefix", visibility="public",
           resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
           properties={"rng": {"title": "RNG", "type": "boolean"}},
           objects=[{"name": "O", "required": ["x"], "properties": {
               "x": {"title": "X", "type": "string"}}}])
    shown = admin.get(f"{NS}/OS::Test::Prefix?resource_type=OS::Glance::Image").json()
    assert list(shown["properties"]) == ["hw_rng"]
    assert list(shown["objects"][0]["properties"]) == ["hw_x"]
    assert shown["objects"][0]["required"] == ["hw_x"]
    assert list(admin.get(f"{NS}/OS::Test::Prefix").json()["properties"]) == ["rng"]


def test_a_duplicate_namespace_is_a_conflict_and_leaves_the_first_unchanged(admin):
    create(admin, "OS::Test::Dup", description="first")
    response = send(admin, "post", NS, {"namespace": "OS::Test::Dup", "description": "second"})
    assert response.status_code == 409
    assert error_of(response)["code"] == 409
    assert admin.get(f"{NS}/OS::Test::Dup").json()["description"] == "first"


def test_a_namespace_refused_for_a_duplicate_object_leaves_nothing_behind(admin):
    response = send(admin, "post", NS, {"namespace": "OS::Test::Half", "objects": [
        {"name": "same"}, {"name": "same"}]})
    assert response.status_code == 409
    assert admin.get(f"{NS}/OS::Test::Half").status_code == 404


@pytest.mark.parametrize("body", [
    {"display_name": "no namespace"},
    {"namespace": "x", "visibility": "shared"},
    {"namespace": "x", "unknown": 1},
    {"namespace": "x", "properties": {"p": {"title": "no type"}}},
    {"namespace": "n" * 81},
    {"namespace": "x", "properties": {"p" * 81: {"title": "T", "type": "string"}}},
    ["not", "an", "object"],
])
def test_a_namespace_body_that_breaks_the_schema_is_refused_with_400(admin, body):
    response = send(admin, "post", NS, body)
    assert response.status_code == 400, response.content
    assert error_of(response)["title"] == "Bad Request"


def test_a_read_only_attribute_in_a_namespace_body_is_forbidden(admin):
    response = send(admin, "post", NS, {"namespace": "x", "self": "/elsewhere"})
    assert response.status_code == 403
    assert "read-only" in error_of(response)["message"]


def test_a_non_admin_may_not_create_change_or_delete_a_namespace(admin, alice):
    assert send(alice, "post", NS, {"namespace": "OS::Test::Mine"}).status_code == 403
    create(admin, "OS::Test::Public", visibility="public")
    assert send(alice, "put", f"{NS}/OS::Test::Public",
                {"namespace": "OS::Test::Public"}).status_code == 403
    assert alice.delete(f"{NS}/OS::Test::Public").status_code == 403
    assert send(alice, "post", f"{NS}/OS::Test::Public/objects",
                {"name": "o"}).status_code == 403
    assert send(alice, "post", f"{NS}/OS::Test::Public/properties",
                {"name": "p", "title": "P", "type": "string"}).status_code == 403
    assert alice.post(f"{NS}/OS::Test::Public/tags/t").status_code == 403
    assert send(alice, "post", f"{NS}/OS::Test::Public/resource_types",
                {"name": "OS::Nova::Flavor"}).status_code == 403
    assert admin.get(f"{NS}/OS::Test::Public").status_code == 200


def test_another_projects_private_namespace_is_not_found(admin, alice, bob):
    create(admin, "OS::Test::Alices", visibility="private", owner=alice.project,
           properties={"p": {"title": "P", "type": "string"}})
    assert alice.get(f"{NS}/OS::Test::Alices").status_code == 200
    assert alice.get(f"{NS}/OS::Test::Alices/properties").status_code == 200
    for path in ("", "/properties", "/objects", "/tags", "/resource_types", "/properties/p"):
        response = bob.get(f"{NS}/OS::Test::Alices{path}")
        assert response.status_code == 404, path
        assert error_of(response)["code"] == 404
    assert bob.delete(f"{NS}/OS::Test::Alices").status_code == 404
    listed = [ns["namespace"] for ns in bob.get(NS).json()["namespaces"]]
    assert "OS::Test::Alices" not in listed
    assert "OS::Test::Alices" in [ns["namespace"] for ns in alice.get(NS).json()["namespaces"]]


def test_an_unknown_namespace_is_not_found_everywhere(admin):
    for method, path in (("get", ""), ("delete", ""), ("get", "/objects"),
                         ("get", "/properties/p"), ("get", "/tags/t"),
                         ("delete", "/resource_types/OS::Glance::Image")):
        assert getattr(admin, method)(f"{NS}/OS::Test::Nowhere{path}").status_code == 404


def test_a_protected_namespace_cannot_be_deleted_until_it_is_unprotected(admin):
    create(admin, "OS::Test::Guarded", protected=True, tags=[{"name": "t"}])
    response = admin.delete(f"{NS}/OS::Test::Guarded")
    assert response.status_code == 403
    assert "protected" in error_of(response)["message"]
    assert admin.delete(f"{NS}/OS::Test::Guarded/tags").status_code == 403
    updated = send(admin, "put", f"{NS}/OS::Test::Guarded",
                   {"namespace": "OS::Test::Guarded", "protected": False}).json()
    assert updated["protected"] is False and updated["visibility"] == "private"
    assert admin.delete(f"{NS}/OS::Test::Guarded").status_code == 204
    assert admin.get(f"{NS}/OS::Test::Guarded").status_code == 404


def test_a_namespace_is_renamed_by_update_and_a_taken_name_is_a_conflict(admin):
    create(admin, "OS::Test::Old")
    create(admin, "OS::Test::Taken")
    renamed = send(admin, "put", f"{NS}/OS::Test::Old",
                   {"namespace": "OS::Test::New", "visibility": "public"})
    assert renamed.status_code == 200 and renamed.json()["namespace"] == "OS::Test::New"
    assert admin.get(f"{NS}/OS::Test::Old").status_code == 404
    assert send(admin, "put", f"{NS}/OS::Test::New",
                {"namespace": "OS::Test::Taken"}).status_code == 409


def test_the_namespace_list_pages_with_limit_and_marker_and_sorts(admin):
    for name in ("OS::Page::C", "OS::Page::A", "OS::Page::B"):
        create(admin, name, visibility="public")
    query = "sort_key=namespace&sort_dir=asc&limit=2"
    first = admin.get(f"{NS}?{query}").json()
    names = [ns["namespace"] for ns in first["namespaces"]]
    assert names == ["OS::Page::A", "OS::Page::B"]
    assert first["schema"] == "/v2/schemas/metadefs/namespaces"
    assert "marker=OS%3A%3APage%3A%3AB" in first["next"] and "limit=2" in first["next"]
    second = admin.get(first["next"]).json()
    assert [ns["namespace"] for ns in second["namespaces"]] == ["OS::Page::C"]
    assert "next" not in second
    desc = admin.get(f"{NS}?sort_key=namespace&sort_dir=desc").json()["namespaces"]
    assert [ns["namespace"] for ns in desc] == ["OS::Page::C", "OS::Page::B", "OS::Page::A"]


@pytest.mark.parametrize("query", ["limit=x", "limit=-1", "sort_dir=up", "sort_key=colour",
                                   "visibility=shared"])
def test_bad_list_parameters_are_refused_with_400(admin, query):
    assert admin.get(f"{NS}?{query}").status_code == 400


def test_an_unknown_marker_is_not_found(admin):
    assert admin.get(f"{NS}?marker=OS::Nothing").status_code == 404


def test_the_list_filters_by_visibility_and_resource_types(admin):
    create(admin, "OS::Filter::Img", visibility="public",
           resource_type_associations=[{"name": "OS::Glance::Image"}])
    create(admin, "OS::Filter::Vol", visibility="private",
           resource_type_associations=[{"name": "OS::Cinder::Volume"}])
    listed = admin.get(f"{NS}?resource_types=OS::Glance::Image").json()["namespaces"]
    assert [ns["namespace"] for ns in listed] == ["OS::Filter::Img"]
    assert listed[0]["resource_type_associations"][0]["name"] == "OS::Glance::Image"
    both = admin.get(f"{NS}?resource_types=OS::Glance::Image,OS::Cinder::Volume").json()
    assert {ns["namespace"] for ns in both["namespaces"]} == {"OS::Filter::Img",
                                                              "OS::Filter::Vol"}
    private = admin.get(f"{NS}?visibility=private").json()["namespaces"]
    assert [ns["namespace"] for ns in private] == ["OS::Filter::Vol"]


def test_objects_are_created_listed_updated_and_deleted(admin, alice):
    create(admin, "OS::Test::Obj", visibility="public")
    base = f"{NS}/OS::Test::Obj/objects"
    made = send(admin, "post", base, {"name": "Disk", "description": "d", "required": ["bus"],
                                      "properties": {"bus": {"title": "Bus", "type": "string",
                                                             "enum": ["scsi", "virtio"]}}})
    assert made.status_code == 201
    assert made.json()["self"] == f"{base}/Disk"
    assert made.json()["schema"] == "/v2/schemas/metadefs/object"
    assert send(admin, "post", base, {"name": "Disk"}).status_code == 409
    assert [o["name"] for o in alice.get(base).json()["objects"]] == ["Disk"]
    updated = send(admin, "put", f"{base}/Disk", {"name": "Disk2", "description": "e"})
    assert updated.status_code == 200 and updated.json()["description"] == "e"
    assert admin.get(f"{base}/Disk").status_code == 404
    assert alice.delete(f"{base}/Disk2").status_code == 403
    assert admin.delete(f"{base}/Disk2").status_code == 204
    assert admin.get(f"{base}/Disk2").status_code == 404
    send(admin, "post", base, {"name": "A"})
    assert admin.delete(base).status_code == 204
    assert admin.get(base).json()["objects"] == []


def test_properties_are_created_shown_by_their_prefixed_name_updated_and_deleted(admin):
    create(admin, "OS::Test::Props")
    base = f"{NS}/OS::Test::Props"
    send(admin, "post", f"{base}/resource_types",
         {"name": "OS::Glance::Image", "prefix": "hw_"})
    enum = ["xen", "qemu", "kvm"]
    made = send(admin, "post", f"{base}/properties",
                {"name": "hypervisor", "title": "Hypervisor", "type": "string", "enum": enum})
    assert made.status_code == 201
    assert made.json() == {"name": "hypervisor", "title": "Hypervisor", "type": "string",
                           "enum": enum}
    assert send(admin, "post", f"{base}/properties",
                {"name": "hypervisor", "title": "T", "type": "string"}).status_code == 409
    prefixed = admin.get(f"{base}/properties/hw_hypervisor?resource_type=OS::Glance::Image")
    assert prefixed.status_code == 200 and prefixed.json()["name"] == "hypervisor"
    assert admin.get(f"{base}/properties/hypervisor?resource_type=OS::Glance::Image"
                     ).status_code == 404
    assert admin.get(f"{base}/properties/hw_hypervisor?resource_type=OS::Nova::Flavor"
                     ).status_code == 404
    updated = send(admin, "put", f"{base}/properties/hypervisor",
                   {"name": "hypervisor", "title": "Kind", "type": "string", "enum": enum})
    assert updated.json()["title"] == "Kind"
    assert admin.get(f"{base}/properties").json()["properties"]["hypervisor"]["title"] == "Kind"
    assert admin.delete(f"{base}/properties/hypervisor").status_code == 204
    assert admin.get(f"{base}/properties").json()["properties"] == {}


def test_a_property_without_title_or_type_is_refused(admin):
    create(admin, "OS::Test::Bad")
    response = send(admin, "post", f"{NS}/OS::Test::Bad/properties", {"name": "p"})
    assert response.status_code == 400


def test_tags_replace_unless_appended_and_all_are_deleted_at_once(admin):
    create(admin, "OS::Test::Tags")
    base = f"{NS}/OS::Test::Tags/tags"
    made = send(admin, "post", base, {"tags": [{"name": "a"}, {"name": "b"}]})
    assert made.status_code == 201 and made.json() == {"tags": [{"name": "a"}, {"name": "b"}]}
    send(admin, "post", base, {"tags": [{"name": "c"}]})
    assert [t["name"] for t in admin.get(base).json()["tags"]] == ["c"]
    send(admin, "post", base, {"tags": [{"name": "d"}]}, HTTP_X_OPENSTACK_APPEND="True")
    assert [t["name"] for t in admin.get(base).json()["tags"]] == ["c", "d"]
    assert send(admin, "post", base, {"tags": [{"name": "c"}]},
                HTTP_X_OPENSTACK_APPEND="True").status_code == 409
    assert send(admin, "post", base, {"tags": [{"name": "x"}, {"name": "x"}]}).status_code == 409
    assert [t["name"] for t in admin.get(base).json()["tags"]] == ["c", "d"]
    assert admin.delete(base).status_code == 204
    assert admin.get(base).json()["tags"] == []


def test_a_single_tag_is_created_renamed_and_deleted(admin):
    create(admin, "OS::Test::Tag")
    base = f"{NS}/OS::Test::Tag/tags"
    made = admin.post(f"{base}/first")
    assert made.status_code == 201 and made.json()["name"] == "first"
    assert admin.post(f"{base}/first").status_code == 409
    assert admin.get(f"{base}/first").json()["name"] == "first"
    renamed = send(admin, "put", f"{base}/first", {"name": "second"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "second"
    assert admin.get(f"{base}/first").status_code == 404
    assert admin.delete(f"{base}/second").status_code == 204
    assert admin.get(f"{base}/second").status_code == 404


def test_resource_type_associations_are_added_listed_and_removed(admin):
    create(admin, "OS::Test::Assoc")
    base = f"{NS}/OS::Test::Assoc/resource_types"
    made = send(admin, "post", base, {"name": "OS::Nova::Flavor", "prefix": "hw:",
                                      "properties_target": "flavor"})
    assert made.status_code == 201
    assert made.json()["name"] == "OS::Nova::Flavor" and made.json()["prefix"] == "hw:"
    assert send(admin, "post", base, {"name": "OS::Nova::Flavor"}).status_code == 409
    listed = admin.get(base).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == ["OS::Nova::Flavor"]
    assert admin.delete(f"{base}/OS::Nova::Flavor").status_code == 204
    assert admin.get(base).json()["resource_type_associations"] == []
    assert admin.delete(f"{base}/OS::Nova::Flavor").status_code == 404


def test_an_association_with_a_new_resource_type_adds_it_unprotected(admin):
    from metadefs.models import ResourceType

    create(admin, "OS::Test::NewType")
    send(admin, "post", f"{NS}/OS::Test::NewType/resource_types", {"name": "OS::Trove::Instance"})
    assert ResourceType.objects.get(name="OS::Trove::Instance").protected is False
    listed = admin.get("/v2/metadefs/resource_types").json()["resource_types"]
    assert "OS::Trove::Instance" in [rt["name"] for rt in listed]


def test_a_nul_character_in_a_name_or_body_is_refused_not_sent_to_the_database(admin):
    create(admin, "OS::Test::Nul")
    assert admin.get(f"{NS}/OS::Test::Nul%00").status_code == 404
    assert admin.get(f"{NS}/OS::Test::Nul/tags/a%00b").status_code == 404
    assert admin.get(f"{NS}?marker=a%00").status_code == 404
    response = send(admin, "post", f"{NS}/OS::Test::Nul/tags", {"tags": [{"name": "a\x00"}]})
    assert response.status_code == 400
    assert send(admin, "post", NS, {"namespace": "OS::Test::\x00"}).status_code == 400
