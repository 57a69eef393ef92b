"""API tokens expire: 24 hours by default, `--expires` otherwise, and an expired token is
refused like a wrong one, with a reason."""
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Token
from accounts.services import token_create, user_ensure

pytestmark = pytest.mark.django_db


def issued(stdout):
    """The token whose secret is the last line of create_token's output, and that secret."""
    secret = stdout.strip().splitlines()[-1]
    return Token.objects.for_secret(secret).get(), secret


def test_create_token_makes_a_token_that_expires_after_a_day(create_token):
    token, _ = issued(create_token("alice")[0])
    assert token.expires_at - token.created_at == timedelta(hours=24)


@pytest.mark.parametrize("text, lifetime", [
    ("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("30d", timedelta(days=30))])
def test_expires_sets_the_lifetime_in_minutes_hours_or_days(create_token, text, lifetime):
    token, _ = issued(create_token("alice", "--expires", text)[0])
    assert token.expires_at - token.created_at == lifetime


def test_a_token_that_never_expires_is_issued_with_a_warning(create_token):
    out, err = create_token("alice", "--expires", "never")
    token, _ = issued(out)
    assert token.expires_at is None
    assert "WARNING: this token never expires" in err
    assert len(out.strip().splitlines()) == 1  # scripts still find the token on the last line


@pytest.mark.parametrize("text", ["12", "1w", "0h", "-5h", "soon", ""])
def test_an_unreadable_lifetime_is_refused_and_issues_no_token(create_token, text):
    with pytest.raises(CommandError, match="not a lifetime"):
        create_token("alice", f"--expires={text}")
    assert not Token.objects.exists()


def test_an_expired_token_is_refused_with_the_api_error_body(alice, api_get):
    secret = token_create(user=alice, lifetime=timedelta(hours=1))
    Token.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_get(secret)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": 401, "title": "Unauthorized",
        "message": "The token has expired; request a new one."}
    assert response["WWW-Authenticate"].startswith("Keystone uri=")
    assert Token.objects.get().last_used_at is None


@pytest.mark.parametrize("lifetime", [timedelta(minutes=5), None])
def test_a_token_within_its_lifetime_or_without_one_is_accepted(alice, api_get, lifetime):
    assert api_get(token_create(user=alice, lifetime=lifetime)).status_code == 200


def test_only_the_digest_and_the_last_characters_of_the_secret_are_kept(create_token):
    token, secret = issued(create_token("alice")[0])
    assert token.digest == Token.digest_of(secret) and token.tail == secret[-4:]
    assert secret not in str(token)


@pytest.mark.django_db(transaction=True)
def test_tokens_issued_before_expiry_existed_never_expire_and_keep_working(api_get):
    executor = MigrationExecutor(connection)
    before = [("accounts", "0002_projectquota")]
    executor.migrate(before)
    user = user_ensure(username="old-client")  # its tables are the same before and after
    OldToken = executor.loader.project_state(before).apps.get_model("accounts", "Token")
    secret = "0123456789abcdef" * 4
    OldToken.objects.create(user_id=user.pk, digest=Token.digest_of(secret))

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    token = Token.objects.get()
    assert token.expires_at is None and not token.is_expired()
    assert api_get(secret).status_code == 200
