"""Signing in (through Keystone when it is configured) and switching projects."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import keystone_backend, keystone_session
from accounts.forms import KeystoneAuthenticationForm

# A year: the cookie only names the project to try first at the next sign-in.
RECENT_PROJECT_AGE = 365 * 24 * 3600


def _remember(response, request, project_id):
    response.set_cookie(keystone_backend.RECENT_PROJECT, project_id,
                        max_age=RECENT_PROJECT_AGE, httponly=True, samesite="Lax",
                        secure=request.is_secure())
    return response


class SignInView(LoginView):
    """django.contrib.auth's sign-in page, asking for a domain too when the portal signs in
    through Keystone."""

    def get_form_class(self):
        return KeystoneAuthenticationForm if settings.KEYSTONE_AUTHTOKEN else AuthenticationForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(keystone=bool(settings.KEYSTONE_AUTHTOKEN), **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        scope = getattr(form.get_user(), "keystone_scope", None)
        return _remember(response, self.request, scope.project_id) if scope else response


@require_POST
@login_required
def project_switch(request):
    """The header's project switcher: rescope to one of the user's own projects."""
    target = request.POST.get("next") or settings.LOGIN_REDIRECT_URL
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = settings.LOGIN_REDIRECT_URL
    if not keystone_session.switchable(request.session):
        messages.error(request, "Only a user signed in through Keystone switches projects.")
        return redirect(target)
    try:
        scope = keystone_session.project_switch(request, request.POST.get("project", ""))
    except LookupError:
        messages.error(request, "You have no role on that project.")
        return redirect(target)
    except keystone_session.SignedOut:
        logout(request)
        return redirect(settings.LOGIN_URL)
    except keystone_backend.Unreachable:
        messages.error(request, keystone_backend.UNREACHABLE)
        return redirect(target)
    messages.success(request, f"Now working in project {scope.project_name}.")
    return _remember(redirect(target), request, scope.project_id)
