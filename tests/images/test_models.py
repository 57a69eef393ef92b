"""The portal's tables are Glance's: names, columns, and the seed story's SQL."""
import re
from pathlib import Path

import pytest
from django.db import connection

from images.models import Image, ImageLocation
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

GLANCE_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "glance-schema.sql"


def glance_columns():
    """{table: {column, ...}} from Glance's own DDL."""
    tables = {}
    for name, body in re.findall(r'CREATE TABLE "?(\w+)"? \((.*?)\n\);', GLANCE_SCHEMA.read_text(),
                                 re.S):
        tables[name] = {line.split()[0] for line in body.strip().splitlines()
                        if line.strip() and line.split()[0].islower()
                        and line.split()[0] not in ("check",)}
    return tables


def test_every_glance_table_and_column_exists_in_the_portal_database():
    expected = glance_columns()
    assert set(expected) == {"images", "image_locations", "image_properties", "image_tags",
                             "image_members"}
    with connection.cursor() as cursor:
        for table, columns in expected.items():
            described = connection.introspection.get_table_description(cursor, table)
            assert {col.name for col in described} >= columns, table


def test_seed_sql_returns_the_location_values(file_stores):
    image, _ = factories.active_image()
    with connection.cursor() as cursor:
        cursor.execute(f"select value from image_locations where image_id = '{image.id}'")
        values = [row[0] for row in cursor.fetchall()]
    assert values == [f"file://{file_stores['fast']}/{image.id}"]


def test_location_metadata_is_json_text_naming_the_store(file_stores):
    image, _ = factories.active_image(store_name="cheap")
    with connection.cursor() as cursor:
        cursor.execute("select meta_data, status, deleted from image_locations "
                       "where image_id = %s", [image.id])
        meta_data, status, deleted = cursor.fetchone()
    assert meta_data == '{"store": "cheap"}'
    assert (status, bool(deleted)) == ("active", False)


def test_soft_deleted_rows_are_hidden_from_the_default_manager(file_stores):
    image = factories.image()
    Image.objects.filter(pk=image.pk).update(deleted=True)
    assert not Image.objects.filter(pk=image.pk).exists()
    assert Image.all_objects.filter(pk=image.pk).exists()


def test_glance_defaults_hold_for_rows_inserted_by_sql():
    """Columns Glance gives a database default (visibility, protected, os_hidden, status)
    have one here too, so rows written by Glance-like SQL are valid."""
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into images (id, status, created_at, deleted, min_disk, min_ram) "
            "values ('11111111-2222-3333-4444-555555555555', 'queued', %s, %s, 0, 0)",
            ["2026-01-01 00:00:00", False])
    image = Image.objects.get(pk="11111111-2222-3333-4444-555555555555")
    assert (image.visibility, image.protected, image.os_hidden) == ("shared", False, False)


def test_image_location_string_never_shows_credentials(file_stores):
    image = factories.image()
    location = ImageLocation.objects.create(
        image=image, value="swift+https://acct:user:secret@auth.example/v3/glance/x")
    assert "secret" not in str(location)
