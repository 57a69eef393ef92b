"""images.inspection (oslo.utils' format_inspector and what we add to it) against real
images made by qemu-img and sfdisk, streamed through in chunks."""
import io
import random
import struct

import pytest

from images.inspection import (HEAD_SIZE, FormatMismatch, ImpossibleSize, InspectingReader,
                               UnsafeImage)

MiB = 1024 * 1024
CHUNK = 64 * 1024


def stream(data, claim, container="bare", chunk=CHUNK):
    """Read `data` through an InspectingReader to its end; return the reader."""
    reader = InspectingReader(io.BytesIO(data), disk_format=claim, container_format=container)
    while reader.read(chunk):
        pass
    return reader


def judge(disk_images, name, claim, **options):
    return stream(disk_images[name].read_bytes(), claim, **options)


@pytest.mark.parametrize("name, claim, qemu_format", [
    ("qcow2", "qcow2", "qcow2"), ("vmdk", "vmdk", "vmdk"), ("vmdk-stream", "vmdk", "vmdk"),
    ("vhd", "vhd", "vpc"), ("vhd-fixed", "vhd", "vpc"), ("vhdx", "vhdx", "vhdx"),
    ("vdi", "vdi", "vdi"), ("iso", "iso", "raw"), ("iso-hybrid", "iso", "raw"),
    ("raw", "raw", "raw"), ("gpt", "raw", "raw"), ("mbr", "raw", "raw")])
def test_a_good_image_is_accepted_with_qemu_imgs_virtual_size(disk_images, name, claim,
                                                              qemu_format):
    reader = judge(disk_images, name, claim)
    assert reader.virtual_size() == disk_images.virtual_size(name, qemu_format)


@pytest.mark.parametrize("chunk", [4096, 3 * MiB + 1, 16 * MiB])
def test_vhdx_metadata_beyond_the_head_is_caught_whatever_the_chunk_boundaries(disk_images,
                                                                               chunk):
    assert judge(disk_images, "vhdx", "vhdx", chunk=chunk).virtual_size() == 64 * MiB


def test_a_differencing_vhdx_is_unsafe(disk_images):
    # qemu-img makes no differencing VHDX: set HasParent in the file parameters item.
    data = bytearray(disk_images["vhdx"].read_bytes())
    region = 3 * MiB  # where qemu-img puts the metadata region
    assert data[region:region + 8] == b"metadata"
    parameters = bytes.fromhex("3767a1ca36fa434db3b633f0aa44e76b")  # its GUID, as stored
    (entry,) = [e for e in range(region + 32, region + 32 * 6, 32)
                if data[e:e + 16] == parameters]
    data[region + int.from_bytes(data[entry + 16:entry + 20], "little") + 4] |= 2
    with pytest.raises(UnsafeImage, match="differencing"):
        stream(bytes(data), "vhdx")


def test_a_differencing_vhd_is_unsafe(disk_images):
    # qemu-img makes no differencing VHD: turn a dynamic one into one (disk type 4).
    data = bytearray(disk_images["vhd"].read_bytes())
    data[60:64] = (4).to_bytes(4, "big")
    with pytest.raises(UnsafeImage, match="differencing"):
        stream(bytes(data), "vhd")


def test_a_fixed_vhd_is_a_vhd_by_its_footer_and_passes_as_raw_too(disk_images):
    size = disk_images["vhd-fixed"].stat().st_size
    assert judge(disk_images, "vhd-fixed", "raw").virtual_size() == size
    with pytest.raises(FormatMismatch, match="Image data is raw, but its disk_format is qcow2"):
        judge(disk_images, "vhd-fixed", "qcow2")


def test_random_bytes_are_raw_and_unverifiable_claims_accept_them():
    data = bytes(512) + random.Random(0).randbytes(3 * MiB)
    for claim in ("raw", "ami", "ari", "aki", "ploop", None):
        stream(data, claim)
    for claim in ("qcow2", "iso", "vhd"):
        with pytest.raises(FormatMismatch, match=f"Image data is raw, but its disk_format is "
                                                 f"{claim}"):
            stream(data, claim)


def test_a_boot_record_mark_with_nonsense_partitions_is_a_broken_mbr_unless_a_kernel():
    # 0x55AA at byte 510 makes the first sector an MBR, whose partition entries must make
    # sense for a raw disk; a kernel (aki) carries the same mark in its boot sector.
    data = bytearray(random.Random(1).randbytes(2 * MiB))
    data[446] = 0x33  # not a boot flag
    data[510:512] = b"\x55\xaa"
    with pytest.raises(UnsafeImage, match="gpt fails its safety checks.*mbr"):
        stream(bytes(data), "raw")
    assert stream(bytes(data), "aki").virtual_size() == len(data)


@pytest.mark.parametrize("name, claims", [
    ("qcow2", ("raw", "ami", "vmdk", "ploop", None)),
    ("vmdk", ("qcow2", "raw")),
    ("iso", ("raw",)),
])
def test_data_of_another_format_than_claimed_is_a_mismatch(disk_images, name, claims):
    for claim in claims:
        with pytest.raises(FormatMismatch, match=f"Image data is {name}, but its disk_format "
                                                 f"is {claim or 'not set'}"):
            judge(disk_images, name, claim)


@pytest.mark.parametrize("name, claims", [("qed", ("raw", "qcow2")), ("luks", ("raw", "vdi"))])
def test_qed_and_luks_are_refused_as_any_declared_format(disk_images, name, claims):
    for claim in claims:
        with pytest.raises(FormatMismatch, match=f"Image data is {name}"):
            judge(disk_images, name, claim)


def test_qed_fails_the_safety_checks_even_inside_a_package(disk_images):
    with pytest.raises(UnsafeImage, match="qed fails its safety checks.*not allowed"):
        judge(disk_images, "qed", "qcow2", container="compressed")


@pytest.mark.parametrize("name, reason", [
    ("qcow2-backing", "backing_file: Image has a backing file"),
    ("qcow2-data-file", "data_file: Image has data_file set"),
    ("qcow2-unknown-feature", "unknown_features: Unknown QCOW2 features found"),
])
def test_an_unsafe_qcow2_is_refused(disk_images, name, reason):
    with pytest.raises(UnsafeImage, match=f"qcow2 fails its safety checks \\({reason}\\)"):
        judge(disk_images, name, "qcow2")


@pytest.mark.parametrize("name", ["vmdk-flat", "vmdk-split"])
def test_a_vmdk_whose_descriptor_names_other_files_is_refused(disk_images, name):
    with pytest.raises(UnsafeImage, match="vmdk fails its safety checks"):
        judge(disk_images, name, "vmdk")


def test_a_sparse_vmdk_whose_embedded_descriptor_names_a_path_is_refused(disk_images):
    data = bytearray(disk_images["vmdk"].read_bytes())
    old = b'RW 131072 SPARSE "disk.vmdk"\n'
    new = b'RW 65536 SPARSE "disk.vmdk"\nRW 65536 FLAT "/etc/passwd" 0\n'
    start = data.index(old)
    data[start:start + len(new)] = new  # the descriptor area is zero padded
    with pytest.raises(UnsafeImage, match="vmdk fails its safety checks"):
        stream(bytes(data), "vmdk")


@pytest.mark.parametrize("claim", ["qcow2", "iso", "raw"])
def test_a_qcow2_that_is_also_an_iso_is_refused_whatever_it_claims(disk_images, claim):
    with pytest.raises(FormatMismatch, match=r"more than one format \(iso, qcow2\)"):
        judge(disk_images, "qcow2-iso", claim)


# (qemu-img format, where its header keeps the virtual size, how it is written there)
SIZE_FIELDS = [("qcow2", 24, ">Q", 1), ("vmdk", 12, "<Q", 512), ("vdi", 368, "<Q", 1)]


@pytest.mark.parametrize("fmt, offset, layout, unit", SIZE_FIELDS)
def test_a_header_claiming_a_virtual_size_past_2_63_is_refused(disk_images, fmt, offset,
                                                                layout, unit):
    data = bytearray(disk_images[fmt].read_bytes())
    # The largest size a signed 64-bit column holds passes; one unit more does not.
    largest = (2**63 - 1) // unit
    struct.pack_into(layout, data, offset, largest)
    assert stream(bytes(data), fmt).virtual_size() == largest * unit
    for claimed in (largest + 1, 2**64 - 1):
        struct.pack_into(layout, data, offset, claimed)
        with pytest.raises(ImpossibleSize, match="virtual size"):
            stream(bytes(data), fmt)


class Endless(io.RawIOBase):
    """`head`, then zeros, without end; counts what was read."""

    def __init__(self, head):
        self.head, self.read_bytes = head, 0

    def read(self, n=-1):
        piece = self.head[self.read_bytes:self.read_bytes + n].ljust(n, b"\0")
        self.read_bytes += n
        return piece


@pytest.mark.parametrize("name, claim", [("qcow2", "raw"), ("raw", "vmdk"),
                                         ("qcow2-backing", "qcow2"), ("qed", "raw"),
                                         ("vmdk-stream", "raw")])
def test_the_verdict_comes_once_the_first_mib_is_in(disk_images, name, claim):
    source = Endless(disk_images[name].read_bytes()[:HEAD_SIZE])
    reader = InspectingReader(source, disk_format=claim)
    with pytest.raises((FormatMismatch, UnsafeImage)):
        while True:
            reader.read(CHUNK)
    assert source.read_bytes == HEAD_SIZE


def test_a_short_image_is_judged_at_its_end(disk_images):
    data = disk_images["qcow2-backing"].read_bytes()
    assert len(data) < HEAD_SIZE
    reader = InspectingReader(io.BytesIO(data), disk_format="qcow2")
    assert reader.read(len(data)) == data  # not judged yet: the stream has not ended
    with pytest.raises(UnsafeImage, match="backing file"):
        reader.read(CHUNK)
