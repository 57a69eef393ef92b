"""A caller known from a Keystone token: no local user row, just the token's user, project
and roles."""

# WSGI environ keys set by portal.keystone (never HTTP_*: no client can set them).
IDENTITY = "portal.keystone_user"
FROM_SESSION = "portal.keystone_from_session"


class KeystoneUser:
    """Who a validated Keystone token names, shaped like enough of a Django user for DRF and
    the views (is_authenticated, pk, username)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    keystone = True

    def __init__(self, *, user_id, username, project_id, project_name, roles, domain_id=None,
                 project_domain_id=None):
        self.pk = self.id = user_id
        self.username = username
        self.project_id = project_id
        self.project_name = project_name
        self.roles = frozenset(roles)
        self.domain_id = domain_id
        self.project_domain_id = project_domain_id
        # Glance's context_is_admin: the admin role in any project.
        self.is_superuser = self.is_staff = "admin" in self.roles

    @classmethod
    def from_access(cls, access):
        """From keystoneauth1's AccessInfo (what keystonemiddleware validated)."""
        return cls(user_id=access.user_id, username=access.username,
                   project_id=access.project_id if access.project_scoped else None,
                   project_name=access.project_name if access.project_scoped else None,
                   roles=access.role_names or (), domain_id=access.user_domain_id,
                   project_domain_id=access.project_domain_id)

    def get_username(self):
        return self.username

    def __str__(self):
        return self.username or self.pk
