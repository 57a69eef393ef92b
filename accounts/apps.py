from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Projects and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Connects the receivers that keep a Keystone user's tokens in the session.
        from accounts import keystone_session  # noqa: F401
