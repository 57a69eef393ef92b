"""Stores shared with a running Glance: its files survive the portal's audits and scrubber.

Driven as the README's "Auditing an existing Glance" section has a user do it: `manage.py` in
a subprocess, the portal's file stores pointed at a copy of a real Glance's folders (files
three days old, as real ones are), `leftover_age = 0` so that the scrubber removes whatever
it takes for its own at once.
"""
import hashlib
import json
import time

import pytest

from tests.images.test_glance_db import glance_portal, manage

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
