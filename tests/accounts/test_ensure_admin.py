"""The first run's admin password goes to a file only its owner can read, never to stdout."""
import io
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.ADMIN_INITIAL_PASSWORD = None
    return tmp_path


@pytest.fixture
def ensure_admin():
    def run():
        out = io.StringIO()
        call_command("ensure_admin", stdout=out)
        return out.getvalue()

    return run


def admin():
    return get_user_model().objects.get(username="admin")


def test_first_run_writes_the_password_to_a_file_only_its_owner_reads(data_dir, ensure_admin):
    out = ensure_admin()
    path = data_dir / "admin-password"
    password = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin().check_password(password) and admin().is_superuser
    assert str(path) in out and password not in out


def test_the_admin_signs_in_with_the_password_from_the_file(data_dir, ensure_admin, client):
    ensure_admin()
    password = (data_dir / "admin-password").read_text().strip()
    response = client.post("/admin/login/", {"username": "admin", "password": password})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_second_run_keeps_the_admin_and_its_password_file(data_dir, ensure_admin):
    ensure_admin()
    first = (data_dir / "admin-password").read_text()
    assert ensure_admin() == ""
    assert (data_dir / "admin-password").read_text() == first
    assert admin().check_password(first.strip())


def test_a_stale_file_is_replaced_by_one_only_the_owner_reads(data_dir, ensure_admin):
    path = data_dir / "admin-password"
    path.write_text("from-an-older-database\n")
    path.chmod(0o644)
    ensure_admin()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin().check_password(path.read_text().strip())


def test_a_symlink_at_the_path_is_not_followed(data_dir, ensure_admin, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "target"
    elsewhere.write_text("untouched")
    (data_dir / "admin-password").symlink_to(elsewhere)
    ensure_admin()
    assert elsewhere.read_text() == "untouched"
    assert not (data_dir / "admin-password").is_symlink()


def test_no_admin_is_left_when_the_password_file_cannot_be_written(settings, data_dir,
                                                                  ensure_admin):
    settings.DATA_DIR = data_dir / "missing"
    with pytest.raises(FileNotFoundError):
        ensure_admin()
    assert not get_user_model().objects.filter(username="admin").exists()


def test_a_password_from_the_environment_is_used_and_no_file_written(settings, data_dir,
                                                                      ensure_admin):
    settings.ADMIN_INITIAL_PASSWORD = "from-the-env-123"
    out = ensure_admin()
    assert admin().check_password("from-the-env-123")
    assert "from-the-env-123" not in out
    assert not (data_dir / "admin-password").exists()
