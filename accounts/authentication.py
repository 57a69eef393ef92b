"""DRF authentication by `X-Auth-Token`, the header glanceclient and openstacksdk send."""
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import Token


class TokenHeaderAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_AUTH_TOKEN"

    def authenticate(self, request):
        secret = request.META.get(self.header)
        if secret is None:
            return None
        token = Token.objects.for_secret(secret.strip()).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The request you have made requires "
                                                  "authentication.")
        Token.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request):
        # Keystone's challenge, so clients answer 401 rather than 403.
        return 'Keystone uri="/"'
