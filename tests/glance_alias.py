"""An existing Glance database as the `glance` alias, in the test process: a copy of the real
one in tests/data/glance-db, opened read-only as GLANCE_DATABASE_URL opens it, and its image
files in the file stores `fast` and `cheap`, which name the folders Glance wrote in its
locations (`location_root`)."""
import shutil
import warnings
from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.test import override_settings

GLANCE_DB = Path(__file__).resolve().parent / "data" / "glance-db"


@pytest.fixture
def glance_db(settings, tmp_path):
    """The copy's folder: `glance.sqlite` and `images/<store>/<image id>`. The alias is added
    after pytest-django set the test databases up: the portal's own test database is flushed
    as usual, the read-only Glance copy is never written."""
    from portal.routers import glance_database

    copy = tmp_path / "glance"
    shutil.copytree(GLANCE_DB, copy)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    settings.STORES = {
        name: {"BACKEND": "stores.backends.file.FileStore",
               "OPTIONS": {"root": str(copy / "images" / name),
                           "location_root": f"/var/lib/glance/images/{name}"},
               "DESCRIPTION": f"{name} disk", "WEIGHT": weight}
        for name, weight in (("fast", 100), ("cheap", 50))}
    settings.DEFAULT_STORE = "fast"
    config = glance_database(f"sqlite:///{copy / 'glance.sqlite'}")
    databases = {**settings.DATABASES, "glance": config}
    # Django warns that overriding DATABASES does not reconnect: the connection is added
    # below, by hand.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        override = override_settings(DATABASES=databases)
        override.enable()
    # Created by hand and left out of `connections.settings`: Django's test cases allow such a
    # dynamically created connection, where they refuse a configured alias the test did not
    # name (and would flush it, read-only, after the test).
    settings_dict = connections.configure_settings({"default": {}, "glance": config})["glance"]
    connection = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "glance")
    connections["glance"] = connection
    try:
        yield copy
    finally:
        connection.close()
        del connections["glance"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            override.disable()
