from types import SimpleNamespace

from accounts.identity import FROM_SESSION, IDENTITY
from accounts.models import Membership


def project(request):
    """The signed-in user's project, for the page header; a user signed in through Keystone
    also gets the projects they may switch to (`switch_projects`, when more than one)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    keystone_user = request.META.get(IDENTITY)
    if keystone_user is not None and request.META.get(FROM_SESSION):
        from accounts.keystone_session import projects_in

        projects = [SimpleNamespace(id=pid, name=name) for pid, name in
                    projects_in(request.session)]
        current = SimpleNamespace(id=keystone_user.project_id, name=keystone_user.project_name)
        return {"current_project": current,
                "switch_projects": projects if len(projects) > 1 else []}
    membership = Membership.objects.filter(user=user).select_related("project").first()
    return {"current_project": membership.project if membership else None}
