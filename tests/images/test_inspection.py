"""images.inspection against real images made by qemu-img, fed in 64 KiB chunks."""
import json
import random
import shutil
import struct
import subprocess

import pytest

from images.inspection import (HEAD_SIZE, VHDX_FILE_PARAMETERS, FormatInspector,
                               FormatMismatch, ImpossibleSize, Inspection, UnsafeImage, check)

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

MiB = 1024 * 1024
CHUNK = 64 * 1024


def qemu_img(tmp_path, *args):
    # Run in tmp_path so relative backing/data/extent file names land there.
    return subprocess.run(["qemu-img", *args], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout


def create(tmp_path, fmt, name, *options, size="64M"):
    qemu_img(tmp_path, "create", "-q", "-f", fmt, *options, name, size)
    return tmp_path / name


def qemu_size(path):
    return json.loads(qemu_img(path.parent, "info", "--output=json", str(path)))["virtual-size"]


def qemu_size_as(path, fmt):
    return json.loads(qemu_img(path.parent, "info", "-f", fmt, "--output=json",
                               str(path)))["virtual-size"]


def inspect_file(path):
    inspector = FormatInspector()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            inspector.feed(chunk)
    return inspector.result()


@pytest.mark.parametrize("fmt, expected", [
    ("qcow2", "qcow2"), ("vmdk", "vmdk"), ("vpc", "vhd"), ("vdi", "vdi"),
])
def test_formats_and_virtual_size_match_qemu_img(tmp_path, fmt, expected):
    path = create(tmp_path, fmt, f"disk.{fmt}")
    result = inspect_file(path)
    assert result == Inspection(expected, qemu_size(path), None)
    assert result.virtual_size >= 64 * MiB  # vpc rounds up to its CHS geometry
    check(result, expected)


def test_vhdx_size_comes_from_its_metadata_region_beyond_the_head(tmp_path):
    path = create(tmp_path, "vhdx", "disk.vhdx")
    result = inspect_file(path)
    assert result == Inspection("vhdx", qemu_size(path), None)
    assert result.virtual_size == 64 * MiB
    check(result, "vhdx")


@pytest.mark.parametrize("chunk", [4096, 3 * MiB + 1, 16 * MiB])
def test_vhdx_metadata_region_is_caught_whatever_the_chunk_boundaries(tmp_path, chunk):
    path = create(tmp_path, "vhdx", "disk.vhdx")
    inspector = FormatInspector()
    with open(path, "rb") as f:
        while piece := f.read(chunk):
            inspector.feed(piece)
    assert inspector.result() == Inspection("vhdx", 64 * MiB, None)


def test_differencing_vhdx_is_unsafe(tmp_path):
    # qemu-img makes no differencing VHDX: set HasParent in the file parameters item.
    path = create(tmp_path, "vhdx", "disk.vhdx")
    data = bytearray(path.read_bytes())
    region = 3 * MiB  # where qemu-img puts the metadata region
    assert data[region:region + 8] == b"metadata"
    entries = range(region + 32, region + 32 + 32 * 5, 32)
    (entry,) = [e for e in entries if data[e:e + 16] == VHDX_FILE_PARAMETERS]
    data[region + int.from_bytes(data[entry + 16:entry + 20], "little") + 4] |= 2
    inspector = FormatInspector()
    inspector.feed(bytes(data))
    with pytest.raises(UnsafeImage, match="differencing"):
        check(inspector.result(), "vhdx")


def test_fixed_vhd_is_a_vhd_by_its_footer_and_passes_as_raw_too(tmp_path):
    # qemu-img probes it as raw (the footer is at the end only); read as vpc it has the
    # footer's size.
    path = create(tmp_path, "vpc", "fixed.vhd", "-o", "subformat=fixed", size="3M")
    result = inspect_file(path)
    assert result == Inspection("vhd", qemu_size_as(path, "vpc"), None)
    check(result, "vhd")
    check(result, "raw")
    with pytest.raises(FormatMismatch):
        check(result, "qcow2")


def test_differencing_vhd_is_unsafe(tmp_path):
    # qemu-img makes no differencing VHD: turn a dynamic one into one (disk type 4).
    path = create(tmp_path, "vpc", "disk.vhd")
    data = bytearray(path.read_bytes())
    data[60:64] = (4).to_bytes(4, "big")
    inspector = FormatInspector()
    inspector.feed(bytes(data))
    with pytest.raises(UnsafeImage, match="differencing"):
        check(inspector.result(), "vhd")


def test_raw_random_bytes(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(random.Random(0).randbytes(3 * MiB))
    result = inspect_file(path)
    assert result == Inspection("raw", None, None)
    for claim in ("raw", "ami", "ari", "aki", "ploop"):
        check(result, claim)
    with pytest.raises(FormatMismatch):
        check(result, "qcow2")
    with pytest.raises(FormatMismatch):
        check(result, "iso")


def test_iso_marker():
    head = bytearray(64 * 1024)
    head[32768:32774] = b"\x01CD001"
    head[32768 + 80:32768 + 84] = (100).to_bytes(4, "little")
    head[32768 + 128:32768 + 130] = (2048).to_bytes(2, "little")
    inspector = FormatInspector()
    for i in range(0, len(head), 4096):
        inspector.feed(bytes(head[i:i + 4096]))
    result = inspector.result()
    assert result == Inspection("iso", 100 * 2048, None)
    check(result, "iso")
    with pytest.raises(FormatMismatch):
        check(result, "raw")


# (qemu-img format, where its header keeps the virtual size, how it is written there)
SIZE_FIELDS = [("qcow2", "qcow2", 24, ">Q", 1), ("vmdk", "vmdk", 12, "<Q", 512),
               ("vdi", "vdi", 368, "<Q", 1)]


@pytest.mark.parametrize("fmt, claim, offset, layout, unit", SIZE_FIELDS)
def test_a_header_claiming_a_virtual_size_past_2_63_is_refused(tmp_path, fmt, claim, offset,
                                                                layout, unit):
    data = bytearray(create(tmp_path, fmt, f"disk.{fmt}").read_bytes())
    # The largest size a signed 64-bit column holds passes; one unit more does not.
    largest = (2**63 - 1) // unit
    struct.pack_into(layout, data, offset, largest)
    (tmp_path / "largest").write_bytes(data)
    check(inspect_file(tmp_path / "largest"), claim)
    for claimed in (largest + 1, 2**64 - 1):
        struct.pack_into(layout, data, offset, claimed)
        (tmp_path / "huge").write_bytes(data)
        with pytest.raises(ImpossibleSize, match="virtual size"):
            check(inspect_file(tmp_path / "huge"), claim)


def test_qcow2_claimed_as_raw_is_a_mismatch(tmp_path):
    result = inspect_file(create(tmp_path, "qcow2", "disk.qcow2"))
    for claim in ("raw", "ami", "vmdk", "ploop", None):
        with pytest.raises(FormatMismatch, match="qcow2"):
            check(result, claim)


def test_qcow2_with_backing_file_is_unsafe(tmp_path):
    create(tmp_path, "qcow2", "base.qcow2")
    top = create(tmp_path, "qcow2", "top.qcow2", "-b", "base.qcow2", "-F", "qcow2")
    result = inspect_file(top)
    assert result == Inspection("qcow2", 64 * MiB, "qcow2 has a backing file")
    with pytest.raises(UnsafeImage, match="backing file"):
        check(result, "qcow2")


def test_qcow2_with_external_data_file_is_unsafe(tmp_path):
    path = create(tmp_path, "qcow2", "x.qcow2", "-o", "data_file=d.raw")
    result = inspect_file(path)
    assert result == Inspection("qcow2", 64 * MiB, "qcow2 has an external data file")
    with pytest.raises(UnsafeImage, match="data file"):
        check(result, "qcow2")


def test_vmdk_descriptor_file_is_unsafe(tmp_path):
    path = create(tmp_path, "vmdk", "y.vmdk", "-o", "subformat=twoGbMaxExtentFlat")
    result = inspect_file(path)
    assert result.format == "vmdk"
    assert result.unsafe == "vmdk descriptor points at other files"
    with pytest.raises(UnsafeImage):
        check(result, "vmdk")


def test_sparse_vmdk_extent_of_a_split_disk_is_unsafe(tmp_path):
    # A sparse header whose embedded descriptor names a second file (qemu-img
    # will not create one, so rewrite the descriptor of a monolithicSparse).
    path = create(tmp_path, "vmdk", "z.vmdk")
    data = bytearray(path.read_bytes()[:HEAD_SIZE])
    old = b'RW 131072 SPARSE "z.vmdk"\n'
    new = b'RW 65536 SPARSE "z.vmdk"\nRW 65536 FLAT "/etc/passwd" 0\n'
    start = data.index(old)
    data[start:start + len(new)] = new  # the descriptor area is zero padded
    inspector = FormatInspector()
    inspector.feed(bytes(data))
    assert inspector.result().unsafe == "vmdk descriptor points at other files"


def test_keeps_only_the_first_mib():
    inspector = FormatInspector()
    inspector.feed(b"QFI\xfb" + b"\0" * (HEAD_SIZE - 4))
    inspector.feed(b"later data is ignored")
    assert len(inspector.head) == HEAD_SIZE
    assert inspector.result().format == "qcow2"


def test_early_result_on_a_short_head():
    inspector = FormatInspector()
    inspector.feed(b"QFI\xfb\0\0\0\3")  # too short for the size field
    assert inspector.result() == Inspection("qcow2", None, None)
    assert FormatInspector().result() == Inspection("raw", None, None)
