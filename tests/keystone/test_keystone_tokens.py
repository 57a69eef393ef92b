"""The API with Keystone tokens, validated by keystonemiddleware against a real Keystone:
owners are Keystone projects, roles are Glance's, bad tokens are 401, an unreachable
Keystone is 503 and lets nothing through."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from images import policy
from images.models import Image
from tests.live.server import free_port

pytestmark = pytest.mark.keystone

IMAGE = {"name": "cirros", "disk_format": "raw", "container_format": "bare"}


def api(token=None):
    client = Client(HTTP_ACCEPT="application/json")
    if token:
        client.defaults["HTTP_X_AUTH_TOKEN"] = token
    return client


def create(client, **body):
    return client.post("/v2/images", json.dumps({**IMAGE, **body}),
                       content_type="application/json")


def test_a_member_creates_an_image_its_keystone_project_owns(keystone_api):
    users_before = get_user_model().objects.count()
    member = api(keystone_api.token("demo", project="demo"))
    response = create(member)
    assert response.status_code == 201, response.content
    image = response.json()
    assert image["owner"] == keystone_api.project_id("demo", "demo")
    upload = member.put(f"/v2/images/{image['id']}/file", b"x" * 4096,
                        content_type="application/octet-stream")
    assert upload.status_code == 204
    shown = member.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["size"]) == ("active", 4096)
    # No local user was needed, nor made.
    assert get_user_model().objects.count() == users_before


def test_no_token_or_a_bad_token_is_401_with_keystone_s_address(keystone_api):
    challenge = f'Keystone uri="{keystone_api.url}"'
    missing = api().get("/v2/images")
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == challenge
    bad = api("not-a-token").get("/v2/images")
    assert bad.status_code == 401 and bad["WWW-Authenticate"] == challenge
    assert bad.json()["error"]["code"] == 401
    refused = create(api("not-a-token"))
    assert refused.status_code == 401
    assert not Image.objects.exists()


def test_a_revoked_token_is_401(keystone_api):
    token = keystone_api.token("demo", project="demo")
    admin = keystone_api.session("admin", project="admin")
    revoked = admin.delete(keystone_api.url + "/v3/auth/tokens",
                           headers={"X-Subject-Token": token}, raise_exc=False)
    assert revoked.status_code == 204
    assert api(token).get("/v2/images").status_code == 401


def test_an_expired_token_is_401(keystone_api):
    expired = keystone_api.token_expiring("demo", project="demo",
                                          expires_at="2020-01-01T00:00:00.000000Z")
    # The same token with an expiry to come passes: only the expiry tells them apart.
    valid = keystone_api.token_expiring("demo", project="demo",
                                        expires_at="2099-01-01T00:00:00.000000Z")
    assert api(valid).get("/v2/images").status_code == 200
    response = api(expired).get("/v2/images")
    assert response.status_code == 401
    assert create(api(expired)).status_code == 401
    assert not Image.objects.exists()


def test_a_token_with_no_project_is_401(keystone_api):
    unscoped = keystone_api.token("demo", unscoped=True)
    system = keystone_api.token("admin", system_scope="all")
    for token in (unscoped, system):
        response = api(token).get("/v2/images")
        assert response.status_code == 401, response.content
        assert "project" in response.json()["error"]["message"]


def test_a_reader_reads_its_project_but_may_not_write(keystone_api):
    member = api(keystone_api.token("demo", project="demo"))
    image = create(member, name="shared-by-demo").json()
    reader = api(keystone_api.token("demo_reader", project="demo"))

    listed = reader.get("/v2/images")
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["images"]] == [image["id"]]
    assert reader.get(f"/v2/images/{image['id']}").status_code == 200

    assert create(reader).status_code == 403
    patch = reader.patch(f"/v2/images/{image['id']}",
                         json.dumps([{"op": "replace", "path": "/name", "value": "x"}]),
                         content_type="application/openstack-images-v2.1-json-patch")
    assert patch.status_code == 403
    assert reader.delete(f"/v2/images/{image['id']}").status_code == 403
    upload = reader.put(f"/v2/images/{image['id']}/file", b"x" * 10,
                        content_type="application/octet-stream")
    assert upload.status_code == 403
    kept = Image.objects.get(pk=image["id"])
    assert (kept.name, kept.status, kept.size) == ("shared-by-demo", "queued", None)
    assert Image.objects.count() == 1


def test_another_project_s_private_image_is_404(keystone_api):
    image = create(api(keystone_api.token("demo", project="demo")), visibility="private").json()
    other = api(keystone_api.token("alt_demo", project="alt_demo"))
    assert other.get(f"/v2/images/{image['id']}").status_code == 404
    assert other.delete(f"/v2/images/{image['id']}").status_code == 404
    assert image["id"] not in [i["id"] for i in other.get("/v2/images").json()["images"]]
    assert Image.objects.filter(pk=image["id"]).exists()


def test_only_the_admin_role_publicizes_or_creates_for_another_project(keystone_api):
    demo_project = keystone_api.project_id("demo", "demo")
    member = api(keystone_api.token("demo", project="demo"))
    assert create(member, visibility="public").status_code == 403
    assert create(api(keystone_api.token("alt_demo", project="alt_demo")),
                  owner=demo_project).status_code == 403
    assert not Image.objects.exists()

    admin = api(keystone_api.token("admin", project="admin"))
    made = create(admin, visibility="public", owner=demo_project)
    assert made.status_code == 201, made.content
    assert (made.json()["visibility"], made.json()["owner"]) == ("public", demo_project)


def test_an_operator_s_policy_file_applies_by_glance_s_rule_names(keystone_api, settings,
                                                                  tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"get_images": "role:admin"\n"add_image": "role:admin"\n')
    settings.POLICY_FILE = str(policy_file)
    policy.reset()
    member = api(keystone_api.token("demo", project="demo"))
    assert member.get("/v2/images").status_code == 403
    assert create(member).status_code == 403
    assert api(keystone_api.token("admin", project="admin")).get("/v2/images").status_code \
        == 200


def test_an_unreachable_keystone_is_503_and_lets_nothing_through(keystone_api, settings):
    # A token Keystone issued, shown to a portal whose Keystone does not answer.
    token = keystone_api.token("demo", project="demo")
    dead = f"http://127.0.0.1:{free_port()}"
    settings.KEYSTONE_AUTHTOKEN = keystone_api.authtoken(www_authenticate_uri=dead,
                                                         auth_url=dead)
    client = api(token)
    listed = client.get("/v2/images")
    assert listed.status_code == 503
    assert "Keystone" in listed.json()["error"]["message"]
    assert create(client).status_code == 503
    assert not Image.objects.exists()

