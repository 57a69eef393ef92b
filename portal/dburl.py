"""Database URLs as the portal reads them: dj-database-url's and SQLAlchemy's.

A Glance operator has SQLAlchemy's form in glance-api.conf ([database] connection =
mysql+pymysql://glance:...@db/glance), so `parse(url)` takes that as well as dj-database-url's
`mysql://` and `postgres://`. The `+driver` part names a Python driver, not a database: Django
picks its own (psycopg or psycopg2; mysqlclient, else PyMySQL).
"""
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url

# SQLAlchemy's dialect+driver prefixes, and the dj-database-url scheme of the same database.
SQLALCHEMY_SCHEMES = {
    "mysql+pymysql": "mysql",
    "mysql+mysqldb": "mysql",
    "mariadb+pymysql": "mysql",
    "mariadb+mysqldb": "mysql",
    "mariadb": "mysql",
    "postgresql+psycopg2": "postgresql",
    "postgresql+psycopg": "postgresql",
}
# Query keys read by SQLAlchemy itself, not by the driver: passed on, the driver would refuse
# them (devstack writes ?charset=utf8&plugin=dbcounter).
SQLALCHEMY_ONLY_KEYS = {"plugin"}


def to_dj_database_url(url):
    """`url` with an SQLAlchemy dialect+driver scheme rewritten as dj-database-url reads it."""
    parts = urlsplit(url)
    scheme = SQLALCHEMY_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        return url
    query = urlencode([(key, value) for key, value in parse_qsl(parts.query)
                       if key not in SQLALCHEMY_ONLY_KEYS])
    return urlunsplit((scheme, parts.netloc, parts.path, query, parts.fragment))


def parse(url, **kwargs):
    """The DATABASES entry for `url` (either form); keywords as dj_database_url.parse takes.

    A MySQL/MariaDB URL works without a compiler: when mysqlclient is not installed,
    PyMySQL (the driver Glance itself uses) stands in for it.
    """
    config = dj_database_url.parse(to_dj_database_url(url), **kwargs)
    if config["ENGINE"] == "django.db.backends.mysql":
        use_pymysql_without_mysqlclient()
    return config


def use_pymysql_without_mysqlclient():
    """Let `import MySQLdb` load PyMySQL when mysqlclient is missing; mysqlclient wins if present.

    PyMySQL reports a mysqlclient-compatible version_info for Django's version check.
    """
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()
