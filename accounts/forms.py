"""The sign-in form when the portal signs in through Keystone."""
from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.keystone_backend import DEFAULT_DOMAIN, SIGN_IN_ERROR


class KeystoneAuthenticationForm(AuthenticationForm):
    """User name, password and domain, checked by Keystone (accounts.keystone_backend).

    `service_error` holds a reason other than a wrong password (Keystone unreachable, no
    project), shown as it is. Of the local users only superusers get in: the emergency
    access to the admin site while Keystone is configured.
    """

    domain = forms.CharField(max_length=255, required=False, initial=DEFAULT_DOMAIN)

    service_error = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        domain = (self.cleaned_data.get("domain") or "").strip() or DEFAULT_DOMAIN
        if username is not None and password:
            self.user_cache = authenticate(self.request, username=username,
                                           password=password, domain=domain)
            if self.user_cache is None:
                self.service_error = getattr(self.request, SIGN_IN_ERROR, None)
                if self.service_error:
                    raise ValidationError(self.service_error, code="keystone")
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if getattr(user, "keystone_scope", None) is None and not user.is_superuser:
            raise self.get_invalid_login_error()
