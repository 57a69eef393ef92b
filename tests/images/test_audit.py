"""Location audits: findings per location, unreferenced objects per store (leftover or
foreign), rows kept, nothing changed."""
import io
import json
import os

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from images import tasks
from images.models import AuditFinding, Image, ImageLocation, StoreWrite
from images.services.audit import (audit_run, findings_record, location_audit,
                                   store_orphans)
from stores.registry import get_store
from tests import factories

pytestmark = pytest.mark.django_db

DATA = b"audit me " * 4096 + b"tail"


def only_location(image):
    return ImageLocation.objects.select_related("image").get(image=image)


def path_of(roots, image):
    return roots["fast"] / image.id


def audit(image, *, deep=False):
    image.refresh_from_db()
    return location_audit(only_location(image), image=image, deep=deep)


def snapshot(roots):
    """Every image and location row, and every file's bytes and mtime in the stores."""
    rows = ([model_to_dict(i) for i in Image.all_objects.order_by("id")],
            [model_to_dict(loc) for loc in ImageLocation.all_objects.order_by("id")])
    files = {str(p): (p.read_bytes(), p.stat().st_mtime_ns)
             for root in roots.values() for p in sorted(root.iterdir())}
    return rows, files


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_locations", *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, out.getvalue()


def test_a_location_whose_object_is_intact_is_ok(file_stores):
    image, _ = factories.active_image(DATA)
    finding = audit(image, deep=True)
    assert (finding.finding, finding.store, finding.image_id) == ("ok", "fast", image.id)
    assert finding.location == f"file://{file_stores['fast'] / image.id}"


def test_a_deleted_file_is_missing(file_stores):
    image, _ = factories.active_image(DATA)
    path_of(file_stores, image).unlink()
    assert audit(image).finding == "missing"


def test_a_truncated_file_is_a_size_mismatch_naming_both_sizes(file_stores):
    image, _ = factories.active_image(DATA)
    with open(path_of(file_stores, image), "r+b") as fh:
        fh.truncate(100)
    finding = audit(image)
    assert finding.finding == "size_mismatch"
    assert finding.detail == f"expected {len(DATA)} bytes, found 100"


def test_a_flipped_byte_of_the_same_size_is_found_by_the_deep_audit_only(file_stores):
    image, _ = factories.active_image(DATA)
    path = path_of(file_stores, image)
    data = bytearray(path.read_bytes())
    data[12345] ^= 0xFF
    path.write_bytes(bytes(data))
    assert audit(image).finding == "ok"
    finding = audit(image, deep=True)
    assert finding.finding == "checksum_mismatch"
    assert "md5 expected" in finding.detail and "sha512 expected" in finding.detail


def test_a_location_no_store_owns_is_unknown_store(file_stores, tmp_path):
    image, _ = factories.active_image(DATA)
    ImageLocation.objects.filter(image=image).update(value=f"file://{tmp_path}/elsewhere/x",
                                                     meta_data='{"store": "gone"}')
    finding = audit(image)
    assert (finding.finding, finding.store) == ("unknown_store", "gone")


@pytest.mark.django_db(transaction=True)
def test_a_swift_store_that_is_down_is_unreachable_not_missing(portal_with_swift, swift_aio):
    image, _ = factories.active_image(DATA, store_name="swift")
    missing, _ = factories.active_image(DATA, store_name="swift")
    portal_with_swift.delete(only_location(missing).value)
    assert audit(missing).finding == "missing"
    swift_aio.stop("object")
    try:
        finding = audit(image)
    finally:
        swift_aio.start()
    assert (finding.finding, finding.store) == ("unreachable", "swift")
    assert audit(image).finding == "ok"


def test_unreferenced_objects_the_portal_did_not_write_are_foreign_with_their_size(file_stores):
    factories.active_image(DATA)
    queued = factories.image()
    (file_stores["fast"] / "stray").write_bytes(b"x")
    (file_stores["fast"] / f"staging-{queued.id}").write_bytes(b"xyz")
    orphans = store_orphans(get_store("fast"))
    assert sorted((o.location.rsplit("/", 1)[1], o.finding, o.image_id, o.size)
                  for o in orphans) == [(f"staging-{queued.id}", "foreign", None, 3),
                                        ("stray", "foreign", None, 1)]
    assert all("not written by this portal" in o.detail for o in orphans)


def test_an_unreferenced_object_the_journal_shows_the_portal_wrote_is_a_leftover(file_stores):
    queued = factories.image()
    store = get_store("fast")
    StoreWrite.objects.create(store="fast", key=queued.id, image_id=queued.id,
                              purpose=StoreWrite.Purpose.UPLOAD)
    (file_stores["fast"] / queued.id).write_bytes(b"half an upload")
    [finding] = store_orphans(store)
    assert (finding.finding, finding.image_id, finding.size) == ("leftover", queued.id, 14)
    assert "upload of image" in finding.detail


def test_objects_of_images_still_being_written_are_not_orphans(file_stores):
    saving = factories.image()
    uploading = factories.image()
    Image.objects.filter(pk=saving.pk).update(status=Image.Status.SAVING)
    Image.objects.filter(pk=uploading.pk).update(status=Image.Status.UPLOADING)
    (file_stores["fast"] / saving.id).write_bytes(b"half")
    (file_stores["fast"] / f"staging-{uploading.id}").write_bytes(b"staged")
    assert store_orphans(get_store("fast")) == []


def test_an_object_kept_for_a_pending_delete_location_is_not_an_orphan(file_stores):
    image, _ = factories.active_image(DATA)
    ImageLocation.objects.filter(image=image).update(status=ImageLocation.Status.PENDING_DELETE)
    assert store_orphans(get_store("fast")) == []


def test_each_run_adds_rows_and_changes_nothing_else(file_stores):
    good, _ = factories.active_image(DATA)
    bad, _ = factories.active_image(DATA, store_name="cheap")
    with open(file_stores["cheap"] / bad.id, "r+b") as fh:
        fh.truncate(10)
    (file_stores["cheap"] / "stray").write_bytes(b"x")
    before = snapshot(file_stores)
    audit_run(deep=True)
    audit_run()
    assert snapshot(file_stores) == before
    rows = AuditFinding.objects.exclude(location_id=None)
    good_rows = list(rows.filter(image_id=good.id).order_by("checked_at", "id"))
    bad_rows = list(rows.filter(image_id=bad.id))
    assert [(r.finding, r.deep, r.store) for r in good_rows] == [("ok", True, "fast"),
                                                                 ("ok", False, "fast")]
    assert [r.finding for r in bad_rows] == ["size_mismatch", "size_mismatch"]
    assert AuditFinding.objects.filter(finding="foreign", image_id=None).count() == 2


def test_a_run_limited_to_one_store_checks_only_that_store(file_stores):
    fast, _ = factories.active_image(DATA)
    factories.active_image(DATA, store_name="cheap")
    (file_stores["cheap"] / "stray").write_bytes(b"x")
    findings = audit_run(store_name="fast")
    assert [(f.image_id, f.finding) for f in findings] == [(fast.id, "ok")]


def test_findings_are_kept_in_the_portal_database_naming_the_database_audited(file_stores):
    factories.active_image(DATA)
    findings = audit_run(using="default")
    assert AuditFinding.objects.count() == len(findings) == 1
    findings_record(findings, using="glance")
    assert sorted(AuditFinding.objects.values_list("database", flat=True)) == ["default",
                                                                                "glance"]


def test_progress_is_reported_per_location(file_stores):
    factories.active_image(DATA)
    factories.active_image(DATA)
    calls = []
    audit_run(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_the_command_prints_json_findings_and_exits_0_when_all_is_ok(file_stores):
    image, _ = factories.active_image(DATA)
    status, out = run_command("--format", "json", "--deep")
    assert status == 0
    assert json.loads(out) == [{"image_id": image.id, "store": "fast",
                                "location": f"file://{file_stores['fast'] / image.id}",
                                "finding": "ok", "detail": ""}]


def test_the_command_exits_1_and_lists_foreign_objects_with_no_image(file_stores):
    image, _ = factories.active_image(DATA)
    path_of(file_stores, image).unlink()
    (file_stores["cheap"] / "stray").write_bytes(b"x")
    status, out = run_command("--format", "json")
    assert status == 1
    findings = {(f["finding"], f["store"], f["image_id"]) for f in json.loads(out)}
    assert findings == {("missing", "fast", image.id), ("foreign", "cheap", None)}


def test_the_text_report_counts_findings_and_lists_the_problems(file_stores):
    image, _ = factories.active_image(DATA)
    factories.active_image(DATA)
    path_of(file_stores, image).unlink()
    status, out = run_command()
    assert status == 1
    assert "  missing: 1" in out and "  ok: 1" in out
    assert f"missing fast {image.id} file://{path_of(file_stores, image)}" in out


def test_the_tasks_audit_and_record(file_stores):
    image, _ = factories.active_image(DATA)
    location = only_location(image)
    assert tasks.audit_location_task(location.id, deep=True) == "ok"
    assert tasks.audit_image_task(image.id) == {"ok": 1}
    os.remove(path_of(file_stores, image))
    assert tasks.audit_store_task("fast") == {"missing": 1}
    assert tasks.audit_all_task() == {"missing": 1}
    assert AuditFinding.objects.filter(location_id=location.id).count() == 4
