"""Keystone tokens, validated by keystonemiddleware (with its token cache) when the
configuration has a [keystone_authtoken] table.

The middleware runs inside Django, after the session middleware, so that one path validates
both an API client's `X-Auth-Token` and the token a portal user signed in with (kept in the
session). It is asked only when a request carries a token: the versions document, the sign-in
page and the health check need none, and a request without one is refused further on, by the
API (401) or the portal (the sign-in page).
"""
import logging

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import JsonResponse
from keystonemiddleware import auth_token

from accounts.identity import FROM_SESSION, IDENTITY, KeystoneUser
from images.api.errors import error_body

log = logging.getLogger(__name__)

# The session key of a portal user's project-scoped token, and of the unscoped one kept for
# switching projects.
SESSION_TOKEN = "keystone_token"
SESSION_UNSCOPED = "keystone_unscoped_token"
_REACHED = "portal.keystone_reached"

UNAUTHORIZED = "The request you have made requires authentication."
UNAVAILABLE = "The Keystone service is temporarily unavailable."


def enabled():
    return bool(settings.KEYSTONE_AUTHTOKEN)


def authenticate_header():
    uri = (settings.KEYSTONE_AUTHTOKEN or {}).get("www_authenticate_uri", "")
    return f'Keystone uri="{uri}"'


def _reached(environ, start_response):
    environ[_REACHED] = True
    start_response("204 No Content", [])
    return []


class KeystoneTokenMiddleware:
    """Validates the request's Keystone token and leaves the caller in request.META[IDENTITY].

    keystonemiddleware removes every identity header a client sent (X-Roles, X-Project-Id...)
    before it sets its own; the portal reads none of them, only the validated token data.
    """

    def __init__(self, get_response):
        if not enabled():
            raise MiddlewareNotUsed
        self.get_response = get_response
        conf = dict(settings.KEYSTONE_AUTHTOKEN)
        # Decided here, not downstream: an invalid token is a 401 and an unreachable Keystone
        # a 503, never a request let through as anonymous.
        conf["delay_auth_decision"] = "false"
        conf.setdefault("log_name", "portal.keystone")
        self.protocol = auth_token.AuthProtocol(_reached, conf)

    def __call__(self, request):
        environ = request.META
        environ.pop(IDENTITY, None)
        from_session = False
        if not environ.get("HTTP_X_AUTH_TOKEN") and hasattr(request, "session"):
            token = request.session.get(SESSION_TOKEN)
            if token:
                environ["HTTP_X_AUTH_TOKEN"] = token
                from_session = True
        if not environ.get("HTTP_X_AUTH_TOKEN"):
            environ.pop("HTTP_X_AUTH_TOKEN", None)
            return self.get_response(request)
        status = self._validate(environ)
        if environ.pop(_REACHED, False):
            user = environ["keystone.token_auth"].user
            environ[IDENTITY] = KeystoneUser.from_access(user)
            environ[FROM_SESSION] = from_session
            if from_session:
                # Not seen by views: the session's token stays on the server.
                del environ["HTTP_X_AUTH_TOKEN"]
            return self.get_response(request)
        if from_session and status == 401:
            # The signed-in user's token expired or was revoked: signed out, and the page
            # asks them to sign in again.
            request.session.flush()
            del environ["HTTP_X_AUTH_TOKEN"]
            return self.get_response(request)
        if status == 401:
            response = JsonResponse(error_body(401, UNAUTHORIZED), status=401)
            response["WWW-Authenticate"] = authenticate_header()
            return response
        log.error("Keystone token validation answered %s", status)
        return JsonResponse(error_body(503, UNAVAILABLE), status=503)

    def _validate(self, environ):
        """Run keystonemiddleware over `environ`; returns the status it answered with (204
        when it passed the request on)."""
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"] = int(status.split(" ", 1)[0])

        for _ in self.protocol(environ, start_response):
            pass
        return answer.get("status", 503)

