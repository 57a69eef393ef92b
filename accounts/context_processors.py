from accounts.models import Membership


def project(request):
    """The signed-in user's project, for the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = Membership.objects.filter(user=user).select_related("project").first()
    return {"current_project": membership.project if membership else None}
