"""DRF authentication by `X-Auth-Token`, the header glanceclient and openstacksdk send."""
from datetime import timedelta

from django.utils import timezone
from django.conf import settings
from rest_framework import authentication, exceptions

from accounts.identity import FROM_SESSION, IDENTITY
from accounts.models import Token


class TokenHeaderAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_AUTH_TOKEN"
    # Local tokens are the API's only without Keystone; a subclass may take them anyway.
    with_keystone = False

    def secret(self, request):
        """The token as the request sends it, or None."""
        return request.META.get(self.header)

    def authenticate(self, request):
        secret = self.secret(request)
        if secret is None or (settings.KEYSTONE_AUTHTOKEN and not self.with_keystone):
            return None
        token = Token.objects.for_secret(secret.strip()).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The request you have made requires "
                                                  "authentication.")
        now = timezone.now()
        if token.is_expired(now):
            # Said apart from a wrong token, so a client knows to get a new one rather than
            # look for a typo.
            raise exceptions.AuthenticationFailed("The token has expired; request a new one.")
        # A write per request would serialize every API call on SQLite: record the use at
        # most once a minute.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            Token.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        # Keystone's challenge, so clients answer 401 rather than 403.
        return 'Keystone uri="/"'


class KeystoneAuthentication(authentication.SessionAuthentication):
    """The caller keystonemiddleware validated (portal.keystone), from an `X-Auth-Token` or
    from the token a portal user signed in with; the latter is a browser session and must
    carry the CSRF token, as Django's own sessions must."""

    def authenticate(self, request):
        meta = request._request.META
        user = meta.get(IDENTITY)
        if user is None or not settings.KEYSTONE_AUTHTOKEN:
            return None
        if user.project_id is None:
            raise exceptions.AuthenticationFailed(
                "The token is not scoped to a project; the Image API acts within a project.")
        if meta.get(FROM_SESSION):
            self.enforce_csrf(request)
        return user, None

    def authenticate_header(self, request):
        # Keystone's challenge, so clients answer 401 rather than 403.
        uri = (settings.KEYSTONE_AUTHTOKEN or {}).get("www_authenticate_uri", "/")
        return f'Keystone uri="{uri}"'


class LocalSessionAuthentication(authentication.SessionAuthentication):
    """A portal user's Django session, when the portal has its own users (no Keystone)."""

    def authenticate(self, request):
        if settings.KEYSTONE_AUTHTOKEN:
            return None
        return super().authenticate(request)
