"""Recognise a disk image's format from its first bytes while it streams.

Follows the idea of Glance's ``format_inspector``: the uploaded bytes go by once,
so ``FormatInspector`` keeps a copy of only the head (the first 1 MiB) and the
decision is taken from that head - plus, for two formats that keep what matters
elsewhere, the last 512 bytes (a fixed VHD's footer) and a VHDX's metadata region.
"raw" is what nothing else matched.  ``InspectingReader`` wraps an upload's stream
with it and refuses the data from inside the stream, before it is complete.

Besides the format, the inspector flags images that would make a hypervisor (or
``qemu-img``) open *other* files than the image itself - a qcow2 backing file or
external data file, a vmdk whose descriptor names other extents - since such an
image can read files of the host it is used on (a VHD or VHDX differencing disk,
too).  ``check()`` turns a mismatch with the claimed ``disk_format``, an unsafe
image or a header claiming a virtual size past 2**63-1 (what no disk has and the database
column cannot hold) into an exception.
"""
import re
import struct
import uuid
from dataclasses import dataclass, field

from stores.exceptions import StreamError

HEAD_SIZE = 1024 * 1024

FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso")

# Claimed disk formats whose content is plain bytes (kernel, ramdisk, machine images).
RAW_ALIASES = {"raw", "ami", "ari", "aki"}

# Only these vmdk layouts keep all data inside the one uploaded file.
SINGLE_FILE_VMDK_TYPES = {"monolithicSparse", "streamOptimized"}

# Container formats whose data is the disk image itself. The others (ovf, ova, docker,
# compressed) wrap it in a package whose inside the head does not show.
BARE_CONTAINERS = {"bare", "ami", "ari", "aki"}

QCOW2_INCOMPAT_DATA_FILE = 1 << 2
VDI_SIGNATURE = 0xBEDA107F
ISO_DESCRIPTOR = 16 * 2048  # the primary volume descriptor sits in sector 16
VHD_FOOTER = 512
VHD_FIXED, VHD_DIFFERENCING = 2, 4  # disk types at offset 60 of the footer
# VHDX (MS-VHDX 2.2.2, 2.6): the region table at 192 KiB locates the metadata region,
# whose table locates the items below; qemu-img puts that region at 3 MiB.
VHDX_REGION_TABLE = 192 * 1024
VHDX_METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
VHDX_FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
VHDX_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
VHDX_HAS_PARENT = 1 << 1
# The largest virtual size the image's column (a signed 64-bit BigIntegerField) holds. The
# headers keep it as an unsigned 64-bit field, so a forged one may claim up to 2**64-1.
MAX_VIRTUAL_SIZE = 2**63 - 1


class ImageContentError(StreamError, ValueError):
    """The data is refused for what it is. A StreamError, so that a store's save() lets it
    through untranslated (after removing what it wrote), as it does a size error."""


class FormatMismatch(ImageContentError):
    """The content is not in the claimed disk_format."""


class UnsafeImage(ImageContentError):
    """The image refers to other files (backing file, data file, extents)."""


class ImpossibleSize(ImageContentError):
    """The header claims a virtual size larger than any disk (and than the column holds)."""


@dataclass(frozen=True)
class Inspection:
    format: str
    virtual_size: int | None = None
    unsafe: str | None = None
    # A fixed VHD is raw data followed by a 512-byte footer: readable as raw too.
    raw_readable: bool = field(default=False, compare=False)


class FormatInspector:
    """Feed it the chunks of a stream in order; it keeps a copy of the first 1 MiB.

    Besides the head it keeps the last 512 bytes (where a fixed VHD has its only footer)
    and, for a VHDX, at most 1 MiB of its metadata region, which lies beyond the head.
    """

    def __init__(self, head_size=HEAD_SIZE):
        self.head_size = head_size
        self.size = 0
        self._head = bytearray()
        self._tail = b""
        self._region = None  # (offset, length) of a later part the format needs
        self._region_data = bytearray()

    def feed(self, chunk: bytes) -> None:
        start = self.size
        self.size += len(chunk)
        missing = self.head_size - len(self._head)
        if missing > 0:
            # Copy: the caller may reuse its buffer, and later chunks are not needed.
            self._head += chunk[:missing]
            if len(self._head) >= self.head_size:
                self._region = _vhdx_metadata_region(self._head)
                if self._region:
                    offset, length = self._region
                    self._region_data += self._head[offset:offset + length]
        if self._region:
            offset, length = self._region
            wanted = offset + len(self._region_data)
            end = min(offset + length, self.size)
            if start <= wanted < end:
                self._region_data += chunk[wanted - start:end - start]
        self._tail = (self._tail + bytes(chunk[-VHD_FOOTER:]))[-VHD_FOOTER:]

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def head_complete(self) -> bool:
        return len(self._head) >= self.head_size

    def result(self) -> Inspection:
        """The inspection of what has been fed so far (may be called early)."""
        head = self.head
        if head.startswith(b"vhdxfile"):
            if self._region:
                return _vhdx(bytes(self._region_data))
            # Shorter than the head: its metadata region is inside it, if anywhere.
            region = _vhdx_metadata_region(head)
            return _vhdx(head[region[0]:region[0] + region[1]] if region else b"")
        inspection = inspect_head(head)
        if inspection.format == "raw" and self.size > VHD_FOOTER:
            return _fixed_vhd(self._tail) or inspection
        return inspection


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
        if _u(">I", head, 60) == VHD_DIFFERENCING:
            return Inspection("vhd", _u(">Q", head, 48), "vhd is a differencing disk of "
                                                         "another file")
        return Inspection("vhd", _u(">Q", head, 48))
    if head.startswith(b"vhdxfile"):
        # Its virtual size is in the metadata region, beyond the head: see FormatInspector.
        return Inspection("vhdx")
    if _u("<I", head, 64) == VDI_SIGNATURE:
        return _vdi(head)
    if head[ISO_DESCRIPTOR + 1:ISO_DESCRIPTOR + 6] == b"CD001":
        return _iso(head)
    # The upload itself knows the size of a raw image.
    return Inspection("raw")


def _fixed_vhd(tail):
    if tail.startswith(b"conectix") and _u(">I", tail, 60) == VHD_FIXED:
        return Inspection("vhd", _u(">Q", tail, 48), raw_readable=True)
    return None


def _vhdx_metadata_region(head):
    """(offset, length) of the VHDX metadata region (at most 1 MiB of it), else None."""
    if not head.startswith(b"vhdxfile"):
        return None
    table = VHDX_REGION_TABLE
    if head[table:table + 4] != b"regi":
        return None
    for i in range(min(_u("<I", head, table + 8) or 0, 2047)):
        entry = table + 16 + 32 * i
        if head[entry:entry + 16] == VHDX_METADATA_REGION:
            offset, length = _u("<Q", head, entry + 16), _u("<I", head, entry + 24)
            if offset is None or not length:
                return None
            return offset, min(length, HEAD_SIZE)
    return None


def _vhdx(metadata):
    if not metadata.startswith(b"metadata"):
        return Inspection("vhdx")
    size, unsafe = None, None
    for i in range(min(_u("<H", metadata, 10) or 0, 2047)):
        entry = 32 + 32 * i
        item, offset = metadata[entry:entry + 16], _u("<I", metadata, entry + 16)
        if offset is None:
            break
        if item == VHDX_VIRTUAL_DISK_SIZE:
            size = _u("<Q", metadata, offset)
        elif item == VHDX_FILE_PARAMETERS and (_u("<I", metadata, offset + 4) or 0) \
                & VHDX_HAS_PARENT:
            unsafe = "vhdx is a differencing disk of another file"
    return Inspection("vhdx", size, unsafe)


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


def check(inspection: Inspection, claimed_disk_format: str | None,
          container_format: str | None = "bare") -> None:
    """Raise FormatMismatch, UnsafeImage or ImpossibleSize; return None when the image is
    acceptable.

    Formats the inspector does not know (ploop, or no claim) cannot be verified;
    they are only refused when the content is recognisably another format, so a
    qcow2 cannot be smuggled in under an unverifiable name.  Inside a package
    container (ova, ovf, docker, compressed) the disk format cannot be seen, so only
    a recognisably unsafe image is refused there.
    """
    if container_format in BARE_CONTAINERS or container_format is None:
        expected = expected_format(claimed_disk_format) or "raw"
        if inspection.format != expected and not (expected == "raw"
                                                  and inspection.raw_readable):
            raise FormatMismatch(f"Image data is {inspection.format}, but its disk_format "
                                 f"is {claimed_disk_format or 'not set'}")
    if inspection.unsafe:
        raise UnsafeImage(f"Unsafe image: {inspection.unsafe}")
    if inspection.virtual_size is not None and inspection.virtual_size > MAX_VIRTUAL_SIZE:
        raise ImpossibleSize(f"Image header claims a virtual size of {inspection.virtual_size} "
                             f"bytes, more than the largest possible ({MAX_VIRTUAL_SIZE})")


def virtual_size(inspection, size, claimed_disk_format, container_format="bare"):
    """The virtual size to record: the data size for raw, the header's for the others,
    None when it cannot be known (ploop, or a disk inside a package container)."""
    if container_format not in BARE_CONTAINERS and container_format is not None:
        return None
    expected = expected_format(claimed_disk_format)
    if expected == "raw":
        return size
    return inspection.virtual_size if expected is not None else None


class InspectingReader:
    """Inspects the bytes read through it and stops the stream once they are refused.

    The verdict comes as soon as the 1 MiB head is in, so a refused 50 GiB upload stops
    there; shorter images, and a raw head claimed as vhd (a fixed VHD has its footer at
    the end), are judged at the end of the stream. Either way the error is raised from
    `read()`, inside the store's save(), which removes what it wrote.
    """

    def __init__(self, stream, *, disk_format, container_format="bare"):
        self._stream = stream
        self.disk_format = disk_format
        self.container_format = container_format
        self.inspector = FormatInspector()
        self.inspection = None  # set once the whole stream passed
        self._head_judged = False

    def read(self, n=-1):
        chunk = self._stream.read(n)
        if chunk:
            self.inspector.feed(chunk)
            if not self._head_judged and self.inspector.head_complete:
                self._head_judged = True
                early = self.inspector.result()
                if not (early.format == "raw" and expected_format(self.disk_format) == "vhd"):
                    check(early, self.disk_format, self.container_format)
        else:
            self.finish()
        return chunk

    @property
    def size(self):
        """Bytes read through so far."""
        return self.inspector.size

    def finish(self) -> Inspection:
        """The inspection of the whole stream; raises if it is refused."""
        if self.inspection is None:
            result = self.inspector.result()
            check(result, self.disk_format, self.container_format)
            self.inspection = result
        return self.inspection

    def virtual_size(self):
        return virtual_size(self.finish(), self.size, self.disk_format,
                            self.container_format)
