"""Indexes for image lists at scale, added beside Glance's own (which stay as they are).

- images (created_at, id): the default order, created_at then id, read from one index;
- images (COALESCE(name, ''), created_at, id): the order of sort_key=name, which compares a
  missing name as '' (images/api/listing.py); an expression index, so SQLite and PostgreSQL
  only (MariaDB indexes no expressions);
- image_properties (name, value, image_id): a filter by a property (?os_distro=ubuntu);
  Glance's own index starts with image_id. MySQL indexes a TEXT column by a prefix only;
- image_tags (value, image_id): a filter by a tag; Glance's (image_id, value) cannot find the
  images of a tag.

They are created with SQL of each database's own, not declared on the models, so that the
models keep exactly Glance's indexes and MariaDB is not told of an index it cannot have.
"""
from django.db import migrations

INDEXES = {
    "images_created_at_id_idx": ("images", "created_at, id", "created_at, id"),
    "images_name_sort_idx": ("images", "(COALESCE(name, '')), created_at, id", None),
    "image_properties_name_value_idx": ("image_properties", "name, value, image_id",
                                        "name, value(255), image_id"),
    "image_tags_value_image_id_idx": ("image_tags", "value, image_id", "value, image_id"),
}


def _indexes(schema_editor):
    """(name, table, columns, mysql) of each index this database gets."""
    mysql = schema_editor.connection.vendor == "mysql"
    for name, (table, columns, mysql_columns) in INDEXES.items():
        if not mysql or mysql_columns is not None:
            yield name, table, mysql_columns if mysql else columns, mysql


def create(apps, schema_editor):
    for name, table, columns, mysql in _indexes(schema_editor):
        guard = "" if mysql else "IF NOT EXISTS "
        schema_editor.execute(f"CREATE INDEX {guard}{name} ON {table} ({columns})")


def drop(apps, schema_editor):
    for name, table, _columns, mysql in _indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX {name} ON {table}" if mysql
                              else f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [("images", "0005_store_writes")]

    # MariaDB cannot roll back DDL, so Django refuses DDL inside a transaction there.
    operations = [migrations.RunPython(create, drop, atomic=False, elidable=False)]
