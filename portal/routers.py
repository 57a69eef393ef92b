"""The `glance` database alias: an existing Glance database, opened read-only.

`glance_database(url)` turns a URL into the DATABASES entry (settings call it with
GLANCE_DATABASE_URL); `GlanceRouter` keeps every write and every migration away from it.
Code reads Glance with `.using("glance")`; nothing is ever routed there implicitly.
"""
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from portal import dburl

GLANCE = "glance"
# Apps whose models are written to the portal's own database.
PORTAL_APPS = {"accounts", "stores", "images"}


class GlanceReadOnlyError(DatabaseError):
    """A write was routed to a row read from the Glance database, which is read-only."""


def glance_database(url):
    """A DATABASES entry for the Glance database at `url` that the server itself refuses to write.

    `url` may be dj-database-url's or SQLAlchemy's, as in glance-api.conf's [database] connection.

    SQLite is opened as a `mode=ro` URI, MariaDB/MySQL and PostgreSQL sessions are set to
    read-only transactions, so even a raw `cursor.execute("UPDATE ...")` fails.
    Raises ImproperlyConfigured for any other engine.
    """
    config = dburl.parse(url)
    engine = config["ENGINE"]
    options = config.setdefault("OPTIONS", {})
    if engine == "django.db.backends.sqlite3":
        if not config["NAME"] or config["NAME"] == ":memory:":
            raise ImproperlyConfigured("GLANCE_DATABASE_URL: an SQLite URL needs a file path")
        # `?` `#` `%` in a path would end or escape the URI: SQLite percent-decodes it.
        config["NAME"] = f"file:{quote(str(config['NAME']))}?mode=ro"
        options["uri"] = True
    elif engine == "django.db.backends.mysql":
        options["init_command"] = "SET SESSION TRANSACTION READ ONLY"
    elif engine in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
        options["options"] = "-c default_transaction_read_only=on"
    else:
        raise ImproperlyConfigured(f"GLANCE_DATABASE_URL: unsupported engine {engine}")
    return config


class GlanceRouter:
    """Reads go where the code says; writes never go to `glance`; nothing migrates it."""

    def db_for_read(self, model, **hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db == GLANCE:
            return GLANCE        # related rows of a Glance row come from Glance too
        return None

    def db_for_write(self, model, **hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db == GLANCE:
            # Without a router Django would write an instance back where it was read from.
            raise GlanceReadOnlyError(
                f"{model._meta.label} {instance.pk} was read from the read-only "
                f"'{GLANCE}' database; copy it with import_glance_db instead")
        if model._meta.app_label in PORTAL_APPS:
            return "default"
        return None

    def allow_relation(self, obj1, obj2, **hints):
        if obj1._state.db == obj2._state.db:
            return True
        if GLANCE in (obj1._state.db, obj2._state.db):
            return False
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == GLANCE:
            return False
        return None
