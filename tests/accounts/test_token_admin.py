"""The admin lists tokens by the last characters of their key, flags those that never expire,
and revokes them; it never shows a secret or a digest."""
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Token
from accounts.services import token_create, user_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens(alice):
    """Three of alice's and bob's tokens by state: valid, expired, never expiring."""
    bob = user_ensure(username="bob", project_name="team-b")
    secrets = {"valid": token_create(user=alice),
               "expired": token_create(user=alice, lifetime=timedelta(minutes=1)),
               "never": token_create(user=bob, lifetime=None)}
    Token.objects.for_secret(secrets["expired"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    return {state: (Token.objects.for_secret(secret).get(), secret)
            for state, secret in secrets.items()}


def listed(admin_client, **query):
    page = admin_client.get("/admin/accounts/token/", query)
    assert page.status_code == 200
    return page.content.decode()


def test_token_list_shows_owner_project_expiry_and_key_tail(admin_client, tokens):
    text = listed(admin_client)
    for token, _ in tokens.values():
        assert f"…{token.tail}" in text
    assert "team-a" in text and "team-b" in text
    assert '<strong style="color: var(--error-fg)">never</strong>' in text


def test_token_list_shows_neither_secrets_nor_digests(admin_client, tokens):
    text = listed(admin_client)
    for token, secret in tokens.values():
        assert secret[:8] not in text and token.digest[:8] not in text


@pytest.mark.parametrize("state", ["valid", "expired", "never"])
def test_token_list_filters_by_state(admin_client, tokens, state):
    text = listed(admin_client, state=state)
    assert [s for s, (token, _) in tokens.items() if f"…{token.tail}" in text] == [state]


def test_token_page_is_read_only_and_shows_no_digest(admin_client, tokens):
    token, secret = tokens["never"]
    url = f"/admin/accounts/token/{token.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert token.digest[:8] not in page.content.decode()
    assert admin_client.post(url, {"expires_at": ""}).status_code == 403
    assert admin_client.get("/admin/accounts/token/add/").status_code == 403


def test_a_token_revoked_in_the_admin_is_refused_by_the_api(admin_client, tokens, api_get):
    token, secret = tokens["never"]
    assert api_get(secret).status_code == 200
    response = admin_client.post("/admin/accounts/token/", {
        "action": "delete_selected", "_selected_action": [token.pk], "post": "yes"})
    assert response.status_code == 302
    assert not Token.objects.filter(pk=token.pk).exists()
    assert api_get(secret).status_code == 401
    assert Token.objects.count() == 2  # the others stay
