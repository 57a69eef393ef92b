"""Signing in to the portal with a Keystone user name, password and domain (v3 password
authentication through keystoneauth1), as Horizon's openstack_auth does.

The password gives an unscoped token; with it the user's projects are listed
(GET /v3/auth/projects) and a token scoped to one of them is issued. Both tokens stay in the
server-side session (portal.keystone.SESSION_TOKEN, SESSION_UNSCOPED): the scoped one is what
portal.keystone validates at each request, the unscoped one rescopes when the user switches
projects. Django sees a local shadow user (no usable password) so that login_required, the
admin site and the session machinery work unchanged.
"""
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import transaction
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

log = logging.getLogger(__name__)

DEFAULT_DOMAIN = "Default"
# Horizon's cookie name: the project last switched to, tried first at the next sign-in. A
# project id, not a secret (the tokens never leave the server).
RECENT_PROJECT = "recent_project"
# The request attribute a failed sign-in leaves its reason in, for the form to show.
SIGN_IN_ERROR = "keystone_sign_in_error"

UNREACHABLE = ("The identity service (Keystone) cannot be reached; try again in a moment, "
               "or ask an administrator.")
NO_PROJECT = ("Your user has no project in the identity service: ask an administrator to "
              "give you a role in one.")
NAME_TAKEN = "A local account already has this name; ask an administrator."


class Unreachable(Exception):
    """Keystone did not answer, or answered with a server error."""


@dataclass
class Scope:
    """What the sign-in or a switch of project leaves in the session: both tokens, the
    project chosen, its roles and every project the user may switch to (id, name)."""

    user_id: str
    username: str
    domain_name: str
    unscoped_token: str
    token: str
    project_id: str
    project_name: str
    roles: frozenset
    expires_at: object = None
    projects: list = field(default_factory=list)

    @property
    def admin(self):
        # Glance's context_is_admin: the admin role.
        return "admin" in self.roles


def _conf():
    return settings.KEYSTONE_AUTHTOKEN or {}


def _auth_url():
    """Keystone's v3 root as the portal reaches it: keystonemiddleware's auth_url (the
    server-side address), else the public www_authenticate_uri."""
    conf = _conf()
    url = (conf.get("auth_url") or conf.get("www_authenticate_uri") or "").rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def _session(auth=None):
    conf = _conf()
    verify = True
    if str(conf.get("insecure", "")).lower() in ("true", "1", "yes"):
        verify = False
    elif conf.get("cafile"):
        verify = conf["cafile"]
    # keystonemiddleware's http_connect_timeout, else 10 s: a sign-in page should not hang for
    # the minutes a TCP connect to a dead host may take.
    timeout = float(conf.get("http_connect_timeout") or 10)
    return ks_session.Session(auth=auth, verify=verify, timeout=timeout)


def _call(function):
    """Run a Keystone call; connection failures and server errors become Unreachable."""
    try:
        return function()
    except (ks_exceptions.ConnectionError, ks_exceptions.DiscoveryFailure) as error:
        log.warning("Keystone unreachable at %s: %s", _auth_url(), error)
        raise Unreachable(str(error)) from error
    except ks_exceptions.HttpError as error:
        if error.http_status is not None and error.http_status >= 500:
            log.warning("Keystone answered %s at %s", error.http_status, _auth_url())
            raise Unreachable(str(error)) from error
        raise


def projects_of(unscoped_token):
    """The enabled projects the unscoped token's user has a role on, as (id, name) pairs
    sorted by name."""
    response = _call(lambda: _session().get(
        _auth_url() + "/auth/projects", headers={"X-Auth-Token": unscoped_token},
        authenticated=False))
    projects = [(p["id"], p["name"]) for p in response.json().get("projects", [])
                if p.get("enabled", True)]
    return sorted(projects, key=lambda p: (p[1].lower(), p[0]))


def scope_to(unscoped_token, project_id, *, projects=None):
    """A token scoped to `project_id`, issued from the unscoped token.

    Raises LookupError when the user has no role on that project, Unauthorized when the
    unscoped token is no longer valid, Unreachable.
    """
    projects = projects_of(unscoped_token) if projects is None else projects
    if project_id not in {pid for pid, _ in projects}:
        raise LookupError(project_id)
    auth = v3.Token(auth_url=_auth_url(), token=unscoped_token, project_id=project_id)
    access = _call(lambda: auth.get_access(_session()))
    return Scope(user_id=access.user_id, username=access.username,
                 domain_name=access.user_domain_name, unscoped_token=unscoped_token,
                 token=access.auth_token, project_id=access.project_id,
                 project_name=access.project_name, roles=frozenset(access.role_names or ()),
                 expires_at=access.expires, projects=projects)


def sign_in(username, password, domain_name=DEFAULT_DOMAIN, *, preferred_project=None):
    """Authenticate with Keystone and scope to `preferred_project` when the user still has
    it, else to the first of their projects (by name).

    Raises Unauthorized (bad user name, password or domain), LookupError (no project),
    Unreachable.
    """
    auth = v3.Password(auth_url=_auth_url(), username=username, password=password,
                       user_domain_name=domain_name, unscoped=True)
    unscoped = _call(lambda: auth.get_access(_session()))
    projects = projects_of(unscoped.auth_token)
    if not projects:
        revoke(unscoped.auth_token)
        raise LookupError(username)
    ids = [pid for pid, _ in projects]
    project_id = preferred_project if preferred_project in ids else ids[0]
    return scope_to(unscoped.auth_token, project_id, projects=projects)


def revoke(*tokens):
    """Revoke the tokens at Keystone (DELETE /v3/auth/tokens); a token already invalid or a
    Keystone that does not answer is not an error: the session holding them is gone anyway."""
    for token in tokens:
        if not token:
            continue
        try:
            _session().delete(_auth_url() + "/auth/tokens", authenticated=False,
                              headers={"X-Auth-Token": token, "X-Subject-Token": token},
                              raise_exc=False)
        except ks_exceptions.ClientException as error:
            log.info("Keystone token not revoked: %s", error)


@transaction.atomic
def shadow_user_ensure(scope):
    """The local user standing for the Keystone user, "<name>@<domain>", created at the first
    sign-in with an unusable password; staff and superuser follow the admin role of the
    current token. Returns None when a local account with a password has that name."""
    User = get_user_model()
    username = f"{scope.username}@{scope.domain_name}"[:150]
    user, created = User.objects.select_for_update().get_or_create(
        username=username, defaults={"is_staff": scope.admin, "is_superuser": scope.admin})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user
    if user.has_usable_password():
        return None
    if (user.is_staff, user.is_superuser) != (scope.admin, scope.admin):
        user.is_staff = user.is_superuser = scope.admin
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


class KeystoneBackend(ModelBackend):
    """Django authentication backend: a Keystone user name, password and domain give the
    shadow user, carrying the Scope (`user.keystone_scope`) that accounts.keystone_session
    keeps in the session. Inactive without [keystone_authtoken]; Django's ModelBackend comes
    after it, so the local admin still signs in to /admin/ when Keystone is configured (or
    down)."""

    def authenticate(self, request, username=None, password=None, domain=None, **kwargs):
        if not settings.KEYSTONE_AUTHTOKEN or not username or not password:
            return None
        preferred = request.COOKIES.get(RECENT_PROJECT) if request is not None else None
        try:
            scope = sign_in(username, password, domain or DEFAULT_DOMAIN,
                            preferred_project=preferred)
        except ks_exceptions.Unauthorized:
            return None
        except Unreachable:
            _note(request, UNREACHABLE)
            return None
        except LookupError:
            _note(request, NO_PROJECT)
            return None
        except ks_exceptions.ClientException as error:
            log.warning("Keystone refused the sign-in of %s: %s", username, error)
            return None
        user = shadow_user_ensure(scope)
        if user is None:
            revoke(scope.token, scope.unscoped_token)
            _note(request, NAME_TAKEN)
            return None
        user.keystone_scope = scope
        return user



def _note(request, message):
    if request is not None:
        setattr(request, SIGN_IN_ERROR, message)
