"""The portal's sign-in through a real Keystone: user name, password and domain give a
project-scoped token kept in the server-side session; the header switches projects; the
images made from the portal belong to the current Keystone project; sign-out revokes."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.keystone_session import SESSION_PROJECTS
from images.models import Image
from portal.keystone import SESSION_TOKEN, SESSION_UNSCOPED
from tests.live.server import free_port

pytestmark = pytest.mark.keystone

IMAGE = {"name": "from-the-portal", "disk_format": "raw", "container_format": "bare"}


def sign_in(username, password, *, domain="Default", follow=False):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    response = client.post("/accounts/login/", {
        "username": username, "password": password, "domain": domain, "next": "/images/",
        "csrfmiddlewaretoken": page.context["csrf_token"]}, follow=follow)
    return client, response


def csrf_of(client):
    return client.cookies["csrftoken"].value


def portal_create(client, **body):
    """What the upload page's script sends: the session's cookie and its CSRF token."""
    return client.post("/v2/images", json.dumps({**IMAGE, **body}),
                       content_type="application/json", HTTP_ACCEPT="application/json",
                       HTTP_X_CSRFTOKEN=csrf_of(client))


def switch(client, project_id):
    return client.post("/accounts/project/", {
        "project": project_id, "next": "/images/", "csrfmiddlewaretoken": csrf_of(client)})


def session_of(client):
    return client.session


def test_demo_signs_in_and_sees_its_project_and_only_what_it_may(keystone_api):
    demo = keystone_api.project_id("demo", "demo")
    alt = keystone_api.project_id("alt_demo", "alt_demo")
    Image.objects.create(name="demo-private", owner=demo, visibility="private")
    Image.objects.create(name="alt-private", owner=alt, visibility="private")
    Image.objects.create(name="everyone", owner=alt, visibility="public")

    client, response = sign_in("demo", keystone_api.password_of("demo"), follow=True)
    assert response.redirect_chain[-1][0] == "/images/"
    page = response.content.decode()
    assert '<span id="current-project">demo</span>' in page
    assert "demo-private" in page and "everyone" in page
    assert "alt-private" not in page
    # One project: no switcher.
    assert 'id="project-switch"' not in page

    # Both tokens stay on the server; the browser holds the session id and CSRF token only.
    session = session_of(client)
    assert session[SESSION_TOKEN] and session[SESSION_UNSCOPED]
    assert session[SESSION_TOKEN] not in page
    assert set(client.cookies) <= {"sessionid", "csrftoken", "recent_project"}
    for cookie in client.cookies.values():
        assert cookie.value not in (session[SESSION_TOKEN], session[SESSION_UNSCOPED])

    user = get_user_model().objects.get(username="demo@Default")
    assert not user.has_usable_password() and not user.is_staff and not user.is_superuser


def test_an_image_made_from_the_portal_is_owned_by_demo_s_keystone_project(keystone_api):
    client, _ = sign_in("demo", keystone_api.password_of("demo"))
    made = portal_create(client)
    assert made.status_code == 201, made.content
    image = made.json()
    assert image["owner"] == keystone_api.project_id("demo", "demo")
    upload = client.put(f"/v2/images/{image['id']}/file", b"x" * 2048,
                        content_type="application/octet-stream",
                        HTTP_X_CSRFTOKEN=csrf_of(client))
    assert upload.status_code == 204, upload.content
    assert Image.objects.get(pk=image["id"]).status == "active"
    # The session's token is a browser's credential: without the CSRF token, refused.
    refused = client.post("/v2/images", json.dumps(IMAGE), content_type="application/json",
                          HTTP_ACCEPT="application/json")
    assert refused.status_code == 403
    assert Image.objects.count() == 1


def test_switching_projects_changes_the_owner_of_what_is_created(keystone_api,
                                                                 demo_in_alt_demo):
    demo = keystone_api.project_id("demo", "demo")
    client, response = sign_in("demo", keystone_api.password_of("demo"), follow=True)
    page = response.content.decode()
    # The first of the user's projects by name, with the switcher offering both.
    assert '<span id="current-project">alt_demo</span>' in page
    assert 'id="project-switch"' in page and f'<option value="{demo}">demo</option>' in page
    assert portal_create(client, name="in-alt-demo").json()["owner"] == demo_in_alt_demo
    first_token = session_of(client)[SESSION_TOKEN]

    switched = switch(client, demo)
    assert switched.status_code == 302 and switched["Location"] == "/images/"
    assert session_of(client)[SESSION_TOKEN] != first_token
    assert client.cookies["recent_project"].value == demo
    assert '<span id="current-project">demo</span>' in client.get("/images/").content.decode()
    made = portal_create(client, name="in-demo")
    assert made.status_code == 201, made.content
    assert made.json()["owner"] == demo
    # The token switched from was revoked.
    admin = keystone_api.session("admin", project="admin")
    checked = admin.get(keystone_api.url + "/v3/auth/tokens",
                        headers={"X-Subject-Token": first_token}, raise_exc=False)
    assert checked.status_code == 404

    # The next sign-in starts in the project last switched to (the recent_project cookie).
    again = Client(enforce_csrf_checks=True)
    again.cookies["recent_project"] = demo
    page = again.get("/accounts/login/")
    again.post("/accounts/login/", {
        "username": "demo", "password": keystone_api.password_of("demo"), "domain": "Default",
        "csrfmiddlewaretoken": page.context["csrf_token"]})
    assert portal_create(again, name="again").json()["owner"] == demo


def test_a_project_the_user_has_no_role_on_is_refused(keystone_api):
    admin_project = keystone_api.project_id("admin", "admin")
    client, _ = sign_in("demo", keystone_api.password_of("demo"))
    token = session_of(client)[SESSION_TOKEN]
    refused = switch(client, admin_project)
    assert refused.status_code == 302
    assert session_of(client)[SESSION_TOKEN] == token
    assert portal_create(client).json()["owner"] == keystone_api.project_id("demo", "demo")
    # A switch needs the CSRF token like any other form.
    assert client.post("/accounts/project/", {"project": admin_project}).status_code == 403


def test_the_admin_role_makes_the_shadow_user_staff(keystone_api):
    client, response = sign_in("admin", keystone_api.password_of("admin"), follow=True)
    assert response.redirect_chain[-1][0] == "/images/"
    user = get_user_model().objects.get(username="admin@Default")
    assert user.is_staff and user.is_superuser
    assert client.get("/admin/").status_code == 200


def test_demo_reader_signs_in_and_cannot_write(keystone_api):
    demo = keystone_api.project_id("demo", "demo")
    image = Image.objects.create(name="demo-image", owner=demo, visibility="private")
    client, response = sign_in("demo_reader", keystone_api.password_of("demo_reader"),
                               follow=True)
    assert "demo-image" in response.content.decode()
    assert portal_create(client).status_code == 403
    deleted = client.post(f"/images/{image.id}/delete/",
                          {"csrfmiddlewaretoken": csrf_of(client)}, follow=True)
    assert "You are not permitted to change this image." in deleted.content.decode()
    assert Image.objects.filter(pk=image.id, status="queued").exists()
    assert Image.objects.count() == 1


def test_a_bad_password_is_the_form_s_error_and_leaves_the_user_signed_out(keystone_api):
    users = get_user_model().objects.count()
    for username, password in (("demo", "wrong"), ("nobody", "wrong")):
        client, response = sign_in(username, password)
        assert response.status_code == 200
        assert "Your user name and password did not match." in response.content.decode()
        assert SESSION_TOKEN not in session_of(client)
        assert client.get("/images/")["Location"].startswith("/accounts/login/")
    assert get_user_model().objects.count() == users


def test_an_unreachable_keystone_is_a_form_error_not_a_500(keystone_api, settings):
    dead = f"http://127.0.0.1:{free_port()}"
    settings.KEYSTONE_AUTHTOKEN = keystone_api.authtoken(www_authenticate_uri=dead,
                                                         auth_url=dead)
    client, response = sign_in("demo", keystone_api.password_of("demo"))
    assert response.status_code == 200
    assert "cannot be reached" in response.content.decode()
    assert SESSION_TOKEN not in session_of(client)


def test_a_user_with_no_project_is_told_so(keystone_api):
    admin = keystone_api.session("admin", project="admin")
    url = keystone_api.url + "/v3"
    created = admin.post(f"{url}/users", json={"user": {
        "name": "portal_lonely", "password": "lonely-pass-1", "domain_id": "default"}},
        raise_exc=False)
    if created.status_code == 409:
        created = admin.get(f"{url}/users?name=portal_lonely")
        user_id = created.json()["users"][0]["id"]
    else:
        user_id = created.json()["user"]["id"]
    try:
        client, response = sign_in("portal_lonely", "lonely-pass-1")
        assert response.status_code == 200
        assert "no project" in response.content.decode()
        assert SESSION_TOKEN not in session_of(client)
    finally:
        admin.delete(f"{url}/users/{user_id}", raise_exc=False)


def test_a_token_revoked_at_keystone_asks_for_a_new_sign_in(keystone_api):
    client, _ = sign_in("demo", keystone_api.password_of("demo"))
    assert client.get("/images/").status_code == 200
    token = session_of(client)[SESSION_TOKEN]
    admin = keystone_api.session("admin", project="admin")
    assert admin.delete(keystone_api.url + "/v3/auth/tokens",
                        headers={"X-Subject-Token": token}).status_code == 204
    # Another web process (no token validation cached yet) serves the next page.
    fresh = Client()
    fresh.cookies = client.cookies
    response = fresh.get("/images/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert SESSION_TOKEN not in session_of(fresh)


def test_sign_out_ends_the_session_and_revokes_the_tokens(keystone_api):
    client, _ = sign_in("demo", keystone_api.password_of("demo"))
    session = session_of(client)
    tokens = session[SESSION_TOKEN], session[SESSION_UNSCOPED]
    assert session[SESSION_PROJECTS]
    out = client.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_of(client)})
    assert out.status_code == 302
    assert client.get("/images/")["Location"].startswith("/accounts/login/")
    admin = keystone_api.session("admin", project="admin")
    for token in tokens:
        checked = admin.get(keystone_api.url + "/v3/auth/tokens",
                            headers={"X-Subject-Token": token}, raise_exc=False)
        assert checked.status_code == 404


def test_the_local_admin_still_signs_in_to_the_admin_site(keystone_api, settings):
    User = get_user_model()
    User.objects.create_superuser("admin", password="local-admin-pass")
    User.objects.create_user("alice", password="alice-pass-123")
    # Even with Keystone down.
    dead = f"http://127.0.0.1:{free_port()}"
    settings.KEYSTONE_AUTHTOKEN = keystone_api.authtoken(www_authenticate_uri=dead,
                                                         auth_url=dead)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {
        "username": "admin", "password": "local-admin-pass"})
    assert response.status_code == 302, response.content
    assert client.get("/admin/").status_code == 200
    # Other local users do not sign in while Keystone is configured.
    alice, response = sign_in("alice", "alice-pass-123")
    assert response.status_code == 200
    assert "_auth_user_id" not in session_of(alice)


def test_a_keystone_admin_signs_in_on_the_admin_site_s_own_page(keystone_api):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {
        "username": "admin", "password": keystone_api.password_of("admin")})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # The tokens went into the session there too: the portal acts in the admin project.
    assert session_of(client)[SESSION_TOKEN]
    page = client.get("/images/").content.decode()
    assert '<span id="current-project">admin</span>' in page
