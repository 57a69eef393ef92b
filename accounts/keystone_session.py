"""A Keystone user's tokens in the server-side session: kept at sign-in, replaced when the
user switches projects, revoked at sign-out. Never in a cookie, never in a page."""
from django.contrib.auth import user_logged_in, user_logged_out
from django.dispatch import receiver
from keystoneauth1 import exceptions as ks_exceptions

from accounts import keystone_backend
from portal.keystone import SESSION_TOKEN, SESSION_UNSCOPED

# The projects the user may switch to, as [id, name] pairs, listed at sign-in and at each
# switch.
SESSION_PROJECTS = "keystone_projects"


def scope_keep(session, scope):
    """Store the scope's tokens and projects in the session, which ends when the scoped token
    expires (Keystone's default: an hour)."""
    session[SESSION_TOKEN] = scope.token
    session[SESSION_UNSCOPED] = scope.unscoped_token
    session[SESSION_PROJECTS] = [list(p) for p in scope.projects]
    if scope.expires_at is not None:
        session.set_expiry(scope.expires_at)


def projects_in(session):
    """The (id, name) pairs kept at sign-in or at the last switch."""
    return [tuple(p) for p in session.get(SESSION_PROJECTS, ())]


def switchable(session):
    """Whether the session holds an unscoped Keystone token to rescope."""
    return bool(session.get(SESSION_UNSCOPED))


class SignedOut(Exception):
    """The unscoped token is gone or no longer valid: the user must sign in again."""


def project_switch(request, project_id):
    """Rescope the signed-in user's unscoped token to `project_id` and put the new token in
    the session in place of the old one (revoked). The shadow user's staff flags follow the
    new token's roles.

    Returns the new Scope. Raises LookupError (not one of the user's projects), SignedOut,
    keystone_backend.Unreachable.
    """
    unscoped = request.session.get(SESSION_UNSCOPED)
    if not unscoped:
        raise SignedOut
    try:
        scope = keystone_backend.scope_to(unscoped, project_id)
    except (ks_exceptions.Unauthorized, ks_exceptions.NotFound) as error:
        raise SignedOut from error
    old = request.session.get(SESSION_TOKEN)
    scope_keep(request.session, scope)
    keystone_backend.shadow_user_ensure(scope)
    if old != scope.token:
        keystone_backend.revoke(old)
    return scope


@receiver(user_logged_in, dispatch_uid="accounts.keystone_session.signed_in")
def signed_in(sender, request, user, **kwargs):
    # After django.contrib.auth.login() has cycled the session key: the tokens go into the
    # new session, whichever sign-in page (the portal's or the admin's) was used.
    scope = getattr(user, "keystone_scope", None)
    if scope is not None and request is not None:
        scope_keep(request.session, scope)


@receiver(user_logged_out, dispatch_uid="accounts.keystone_session.signed_out")
def signed_out(sender, request, user, **kwargs):
    # Sent before logout() flushes the session: the tokens are still there to revoke.
    if request is None or not hasattr(request, "session"):
        return
    tokens = (request.session.get(SESSION_TOKEN), request.session.get(SESSION_UNSCOPED))
    if any(tokens):
        keystone_backend.revoke(*tokens)
