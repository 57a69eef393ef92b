"""DATABASE_URL and GLANCE_DATABASE_URL in either form: dj-database-url's, or SQLAlchemy's as
glance-api.conf's [database] connection has it; MySQL/MariaDB on PyMySQL without mysqlclient."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from portal import dburl

ROOT = Path(__file__).resolve().parents[2]
MARIADB = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root"]
# Run before the code under test: `import MySQLdb` fails as on a machine without mysqlclient.
WITHOUT_MYSQLCLIENT = "import sys; sys.modules['MySQLdb'] = None\n"


def run_python(code, **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "GLANCE_DATABASE_URL", "PORTAL_CONFIG")}
    environ.update(DJANGO_SETTINGS_MODULE="portal.settings", **env)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("sqlalchemy, twin", [
    ("mysql+pymysql://glance:s3cr%40t@db:3306/glance", "mysql://glance:s3cr%40t@db:3306/glance"),
    ("mysql+mysqldb://glance:pw@db/glance", "mysql://glance:pw@db/glance"),
    ("mariadb+pymysql://glance:pw@db/glance", "mysql://glance:pw@db/glance"),
    ("postgresql+psycopg2://glance:pw@db:5433/glance", "postgres://glance:pw@db:5433/glance"),
    ("postgresql+psycopg://glance:pw@db/glance", "postgres://glance:pw@db/glance"),
    ("sqlite:////var/lib/glance/glance.sqlite", "sqlite:////var/lib/glance/glance.sqlite"),
])
def test_an_sqlalchemy_url_gives_the_entry_of_its_dj_database_url_twin(sqlalchemy, twin):
    assert dburl.parse(sqlalchemy) == dburl.parse(twin)


def test_sqlalchemys_own_query_keys_are_dropped_and_the_drivers_kept():
    config = dburl.parse("mysql+pymysql://glance:pw@db/glance?charset=utf8&plugin=dbcounter")
    assert config["OPTIONS"] == {"charset": "utf8"}


def test_database_url_and_glance_database_url_take_a_glance_api_conf_connection(tmp_path):
    databases = json.loads(run_python(
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES, default=str))",
        PORTAL_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgresql+psycopg2://portal:pw@pg.example:5432/portal",
        GLANCE_DATABASE_URL="mysql+pymysql://glance:pw@db.example/glance?charset=utf8"))
    default, glance = databases["default"], databases["glance"]
    assert (default["ENGINE"], default["HOST"], default["NAME"]) == (
        "django.db.backends.postgresql", "pg.example", "portal")
    assert (glance["ENGINE"], glance["HOST"], glance["NAME"]) == (
        "django.db.backends.mysql", "db.example", "glance")
    assert glance["OPTIONS"] == {"charset": "utf8",
                                 "init_command": "SET SESSION TRANSACTION READ ONLY"}


def test_pymysql_stands_in_only_when_mysqlclient_is_missing():
    which = ("from portal import dburl; dburl.parse('mysql://root@127.0.0.1/x'); "
             "import MySQLdb; print(MySQLdb.__name__)")
    assert run_python(WITHOUT_MYSQLCLIENT + which).strip() == "pymysql"
    assert run_python(which).strip() == "MySQLdb"


@pytest.fixture
def mariadb_database():
    name = f"portal_dburl{uuid.uuid4().hex[:10]}"
    if subprocess.run([*MARIADB, "-e", f"create database {name}"]).returncode != 0:
        pytest.skip("no MariaDB server on 127.0.0.1:3306 (root, no password)")
    yield name
    subprocess.run([*MARIADB, "-e", f"drop database if exists {name}"])


def test_django_writes_and_reads_mariadb_through_pymysql(mariadb_database, tmp_path):
    out = run_python(WITHOUT_MYSQLCLIENT + (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('create table t (v varchar(10))')\n"
        "    cursor.execute('insert into t values (%s)', ['ünï'])\n"
        "    cursor.execute('select v from t')\n"
        "    print(type(connection.connection).__module__, cursor.fetchone()[0])\n"),
        PORTAL_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_database}")
    assert out.split() == ["pymysql.connections", "ünï"]
