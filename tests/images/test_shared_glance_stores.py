"""Stores shared with a running Glance: its files and its Swift large objects survive the
portal's audits and scrubber.

Driven as the README's "Auditing an existing Glance" section has a user do it: `manage.py` in
a subprocess, the portal's file stores pointed at a copy of a real Glance's folders (files
three days old, as real ones are), `leftover_age = 0` so that the scrubber removes whatever
it takes for its own at once.
"""
import hashlib
import json
import os
import sqlite3
import time
import uuid

import pytest

from tests.images.test_glance_db import glance_portal, manage
from tests.stores.glance_dlo import glance_dlo_write

DAY = 86400
STRAY = "a7d0c6a2-3f64-4c55-9d55-0d6b2f1f0e01"  # an object of some other tool's


def tree_digest(root):
    """{relative path: sha256} of every file under root."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture
def shared(tmp_path):
    """A copy of the Glance database and its files, aged three days, a stray object beside
    them, and the environment of a portal whose stores are Glance's folders."""
    return glance_portal(tmp_path, settings="leftover_age = 0\nstale_upload_age = 0\n",
                         mtime=time.time() - 3 * DAY,
                         extra=[("cheap", STRAY, b"written by another tool")])


def audit_json(env, *args):
    proc = manage(env, "audit_locations", "--format", "json", *args, ok=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def unreferenced(findings):
    return sorted((f["finding"], f["store"], f["location"].rsplit("/", 1)[1])
                  for f in findings if f["image_id"] is None)


def test_with_the_glance_database_set_audit_and_scrub_leave_every_glance_file_intact(shared):
    copy, env = shared
    before = tree_digest(copy)
    glance = audit_json(env, "--database", "glance", "--deep")
    assert sorted(f["finding"] for f in glance if f["image_id"]) == ["ok"] * 8
    assert unreferenced(glance) == [("foreign", "cheap", STRAY)]
    # The portal's own database is empty, yet Glance's files are in use: not orphans.
    assert unreferenced(audit_json(env)) == [("foreign", "cheap", STRAY)]
    out = manage(env, "scrub").stdout
    assert "Removed" not in out, out
    assert unreferenced(audit_json(env)) == [("foreign", "cheap", STRAY)]
    assert tree_digest(copy) == before


def test_without_the_glance_database_its_files_are_foreign_and_the_scrubber_keeps_them(shared):
    copy, env = shared
    del env["GLANCE_DATABASE_URL"]
    before = tree_digest(copy)
    findings = audit_json(env)
    assert {f["finding"] for f in findings} == {"foreign"}
    assert len(findings) == 9  # the 8 live Glance files and the stray object
    assert all(f["size"] > 0 for f in findings)
    out = manage(env, "scrub").stdout
    assert "Removed" not in out, out
    assert tree_digest(copy) == before


def swift_objects(swift, container):
    return {entry["name"]: entry["hash"]
            for entry in swift.get_container(container, full_listing=True)[1]}


@pytest.mark.swift
def test_a_glance_large_object_in_swift_survives_audit_and_scrub_and_is_ok_deep(
        tmp_path, swift_env, swift, swift_container):
    image_id = str(uuid.uuid4())
    data = os.urandom(3 * 2**20 + 7)
    glance_dlo_write(swift, swift_container, image_id, data, 2**20)
    stray = glance_dlo_write(swift, swift_container, STRAY, b"s" * 300, 200)  # nobody's
    copy, env = glance_portal(
        tmp_path, settings="leftover_age = 0\nstale_upload_age = 0\n",
        stores=f'[stores.swift]\nbackend = "swift"\nauth_url = "{swift_env["SWIFT_AUTH_URL"]}"\n'
               f'user = "{swift_env["SWIFT_USER"]}"\nkey = "{swift_env["SWIFT_KEY"]}"\n'
               f'container = "{swift_container}"\nreference = "ref1"\n')
    with sqlite3.connect(copy / "glance.sqlite") as db:  # as Glance records such an image
        db.execute("insert into images (id, name, size, status, created_at, deleted, "
                   "disk_format, container_format, checksum, owner, min_disk, min_ram, "
                   "os_hash_algo, os_hash_value) values (?, 'dlo', ?, 'active', "
                   "'2026-12-01 10:00:00', 0, 'raw', 'bare', ?, 'p', 0, 0, 'sha512', ?)",
                   (image_id, len(data), hashlib.md5(data).hexdigest(),
                    hashlib.sha512(data).hexdigest()))
        db.execute("insert into image_locations (image_id, value, created_at, deleted, "
                   "meta_data, status) values (?, ?, '2026-12-01 10:00:00', 0, "
                   "'{\"store\": \"swift\"}', 'active')",
                   (image_id, f"swift+config://ref1/{swift_container}/{image_id}"))
    before = swift_objects(swift, swift_container)
    glance = audit_json(env, "--database", "glance", "--deep", "--store", "swift")
    assert [f["finding"] for f in glance if f["image_id"]] == ["ok"]
    assert unreferenced(glance) == sorted(
        ("foreign", "swift", name) for name in [STRAY, *stray])
    manage(env, "scrub")
    assert unreferenced(audit_json(env, "--store", "swift")) == unreferenced(glance)
    assert swift_objects(swift, swift_container) == before
