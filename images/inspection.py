"""Recognise a disk image's format from its first bytes while it streams.

Follows the idea of Glance's ``format_inspector``: the uploaded bytes go by once,
so ``FormatInspector`` keeps a copy of only the head (the first 1 MiB) and every
decision is taken from that head.  "raw" is what nothing else matched.

Besides the format, the inspector flags images that would make a hypervisor (or
``qemu-img``) open *other* files than the image itself - a qcow2 backing file or
external data file, a vmdk whose descriptor names other extents - since such an
image can read files of the host it is used on.  ``check()`` turns a mismatch
with the claimed ``disk_format`` or an unsafe image into an exception.
"""
import re
import struct
from dataclasses import dataclass

HEAD_SIZE = 1024 * 1024

FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso")

# Claimed disk formats whose content is plain bytes (kernel, ramdisk, machine images).
RAW_ALIASES = {"raw", "ami", "ari", "aki"}

# Only these vmdk layouts keep all data inside the one uploaded file.
SINGLE_FILE_VMDK_TYPES = {"monolithicSparse", "streamOptimized"}

QCOW2_INCOMPAT_DATA_FILE = 1 << 2
VDI_SIGNATURE = 0xBEDA107F
ISO_DESCRIPTOR = 16 * 2048  # the primary volume descriptor sits in sector 16


class FormatMismatch(ValueError):
    """The content is not in the claimed disk_format."""


class UnsafeImage(ValueError):
    """The image refers to other files (backing file, data file, extents)."""


@dataclass(frozen=True)
class Inspection:
    format: str
    virtual_size: int | None = None
    unsafe: str | None = None


class FormatInspector:
    """Feed it the chunks of a stream in order; it keeps a copy of the first 1 MiB."""

    def __init__(self, head_size=HEAD_SIZE):
        self.head_size = head_size
        self._head = bytearray()

    def feed(self, chunk: bytes) -> None:
        missing = self.head_size - len(self._head)
        if missing > 0:
            # Copy: the caller may reuse its buffer, and later chunks are not needed.
            self._head += chunk[:missing]

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    def result(self) -> Inspection:
        """The inspection of what has been fed so far (may be called early)."""
        return inspect_head(self.head)


def _u(fmt, data, offset):
    """Unpack one struct field, or None when the head is too short for it."""
    size = struct.calcsize(fmt)
    if len(data) < offset + size:
        return None
    return struct.unpack_from(fmt, data, offset)[0]


def inspect_head(head: bytes) -> Inspection:
    # Formats with a magic at offset 0 first; ISO last, since its marker at 32 KiB
    # could also appear inside data of another format (Glance checks it the same way).
    if head.startswith(b"QFI\xfb"):
        return _qcow2(head)
    if head.startswith(b"KDMV"):
        return _vmdk_sparse(head)
    if head.startswith(b"# Disk DescriptorFile"):
        # A text descriptor holds no data at all: everything lives in other files.
        return Inspection("vmdk", None, "vmdk descriptor points at other files")
    if head.startswith(b"conectix"):
        # Dynamic VHDs start with a copy of the footer; current size at 48 (u64 BE).
        return Inspection("vhd", _u(">Q", head, 48))
    if head.startswith(b"vhdxfile"):
        # The virtual size is in the metadata region, which qemu-img puts at
        # 3 MiB - beyond the head we keep - so it is left unknown.
        return Inspection("vhdx")
    if _u("<I", head, 64) == VDI_SIGNATURE:
        return _vdi(head)
    if head[ISO_DESCRIPTOR + 1:ISO_DESCRIPTOR + 6] == b"CD001":
        return _iso(head)
    # The upload itself knows the size of a raw image.
    return Inspection("raw")


def _qcow2(head):
    size = _u(">Q", head, 24)
    if _u(">Q", head, 8):
        return Inspection("qcow2", size, "qcow2 has a backing file")
    version = _u(">I", head, 4)
    incompatible = _u(">Q", head, 72) if version and version >= 3 else 0
    if incompatible and incompatible & QCOW2_INCOMPAT_DATA_FILE:
        return Inspection("qcow2", size, "qcow2 has an external data file")
    return Inspection("qcow2", size)


EXTENT_LINE = re.compile(r'^(RW|RDONLY|NOACCESS)\s+\d+\s+(\S+)(?:\s+"([^"]*)")?', re.M)
CREATE_TYPE = re.compile(r'^createType\s*=\s*"([^"]*)"', re.M)


def _vmdk_sparse(head):
    capacity = _u("<Q", head, 12)
    size = capacity * 512 if capacity is not None else None
    desc_offset, desc_size = _u("<Q", head, 28), _u("<Q", head, 36)
    if not desc_offset or not desc_size:
        # A sparse extent without its own descriptor is only a part of a disk.
        return Inspection("vmdk", size, "vmdk has no embedded descriptor")
    start, end = desc_offset * 512, (desc_offset + desc_size) * 512
    if end > len(head):
        # Cannot vouch for what we have not seen: refuse rather than guess.
        return Inspection("vmdk", size, "vmdk descriptor is not within the first 1 MiB")
    text = head[start:end].split(b"\0", 1)[0].decode("latin-1")
    create_type = CREATE_TYPE.search(text)
    extents = EXTENT_LINE.findall(text)
    # We do not know the uploaded file's name, so "the file itself" is: a single
    # SPARSE extent in a single-file layout.  Anything else names other files.
    if (create_type is None or create_type.group(1) not in SINGLE_FILE_VMDK_TYPES
            or len(extents) != 1 or extents[0][1] != "SPARSE"):
        return Inspection("vmdk", size, "vmdk descriptor points at other files")
    return Inspection("vmdk", size)


def _vdi(head):
    # Version 1.1 (0x00010001) header: disk size at 368 (u64 LE).
    size = _u("<Q", head, 368) if _u("<I", head, 68) == 0x00010001 else None
    return Inspection("vdi", size)


def _iso(head):
    # Volume space size (both-endian u32; LE half first) times the logical block size.
    blocks = _u("<I", head, ISO_DESCRIPTOR + 80)
    block_size = _u("<H", head, ISO_DESCRIPTOR + 128)
    size = blocks * block_size if blocks and block_size else None
    return Inspection("iso", size)


def expected_format(claimed_disk_format):
    """The format the inspector must find for a claimed disk_format, or None if unknown."""
    if claimed_disk_format in RAW_ALIASES:
        return "raw"
    if claimed_disk_format in FORMATS:
        return claimed_disk_format
    return None


def check(inspection: Inspection, claimed_disk_format: str | None) -> None:
    """Raise FormatMismatch or UnsafeImage; return None when the image is acceptable.

    Formats the inspector does not know (ploop, or no claim) cannot be verified;
    they are only refused when the content is recognisably another format, so a
    qcow2 cannot be smuggled in under an unverifiable name.
    """
    expected = expected_format(claimed_disk_format)
    if expected is None:
        if inspection.format != "raw":
            raise FormatMismatch(
                f"image claimed as {claimed_disk_format!r} is {inspection.format}")
    elif inspection.format != expected:
        raise FormatMismatch(
            f"image claimed as {claimed_disk_format!r} is {inspection.format}")
    if inspection.unsafe:
        raise UnsafeImage(inspection.unsafe)
