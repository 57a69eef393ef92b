"""PORTAL_HTTPS=1 makes the settings fit for a deployment behind TLS; without it the plain
http of `make run` keeps working."""
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

COOKIES = ("from django.conf import settings; "
           "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)")


@pytest.fixture
def manage(tmp_path):
    """Run `manage.py ARGS...` in a fresh data folder with only the given PORTAL_* variables;
    returns the finished process."""

    def run(*args, **portal_env):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PORTAL_") and k not in ("DATABASE_URL", "GLANCE_DATABASE_URL",
                                                            "CELERY_BROKER_URL")}
        env.update(PORTAL_DATA_DIR=str(tmp_path), **portal_env)
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    return run


def test_check_deploy_reports_no_issues_behind_tls(manage):
    result = manage("check", "--deploy", "--fail-level", "WARNING", PORTAL_HTTPS="1",
                    PORTAL_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


@pytest.mark.parametrize("portal_env, secure", [({}, "False False"),
                                                ({"PORTAL_HTTPS": "1"}, "True True")])
def test_cookies_are_secure_only_behind_tls(manage, portal_env, secure):
    result = manage("shell", "-c", COOKIES, **portal_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == secure
