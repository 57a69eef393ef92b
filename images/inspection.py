"""Judge a disk image's content while it streams, with oslo.utils' format_inspector.

The inspectors are the ones Glance, Nova and Cinder run on every image since the 2024
advisories: each knows one format (qcow2, vmdk, vhd, vhdx, vdi, qed, iso, gpt, luks),
captures only the few regions of the stream it needs, and has safety checks (a qcow2
backing file, external data file or unknown feature bit, a vmdk descriptor naming other
files, QED at all, LUKS other than version 1, an MBR whose partitions make no sense).

What this module adds, and why:
- The verdict after the first MiB. The library's `InspectWrapper` decides only once every
  inspector is complete, which for some data (a streamOptimized vmdk's footer) is the end
  of the stream, and it feeds all ten inspectors to the end. Here every inspector sees the
  head; after it only the one that matched is fed, until it has what it needs, so a
  refused 50 GiB upload stops after about a MiB and an accepted one pays nothing more.
- The claim. Data must be the `disk_format` it claims: a qcow2 sent as raw is refused
  (Glance lets it through with a warning). Data matching two formats is refused, except an
  ISO with a boot record in front (as Glance allows).
- A fixed VHD, whose only footer is at the end, which the library reads as raw.
- VHD and VHDX differencing disks, whose safety checks are null in the library.
- A virtual size past 2**63-1, which no disk has and the database column cannot hold.
"""
import struct
import uuid

from oslo_utils.imageutils import format_inspector

from stores.exceptions import StreamError

HEAD_SIZE = 1024 * 1024
PIECE = 64 * 1024  # the most an inspector is fed at once

# Claimed disk formats whose content is plain bytes (kernel, ramdisk, machine images).
RAW_ALIASES = {"raw", "ami", "ari", "aki"}
# Kernels and ramdisks carry a boot-sector mark at byte 510 that reads as an MBR; their
# content is not a partitioned disk, so the MBR's partition checks do not apply to them.
UNPARTITIONED = {"ami", "ari", "aki"}
# Claimed disk formats the inspectors can verify.
INSPECTABLE = {"qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso"}

# Container formats whose data is the disk image itself. The others (ovf, ova, docker,
# compressed) wrap it in a package whose inside the inspectors do not see.
BARE_CONTAINERS = {"bare", "ami", "ari", "aki"}

VHD_FOOTER = 512
VHD_FIXED, VHD_DIFFERENCING = 2, 4  # disk types at offset 60 of the footer
VHDX_FILE_PARAMETERS = str(uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")).upper()
VHDX_HAS_PARENT = 1 << 1
# The largest virtual size the image's column (a signed 64-bit BigIntegerField) holds. The
# headers keep it as an unsigned 64-bit field, so a forged one may claim up to 2**64-1.
MAX_VIRTUAL_SIZE = 2**63 - 1


class ImageContentError(StreamError, ValueError):
    """The data is refused for what it is. A StreamError, so that a store's save() lets it
    through untranslated (after removing what it wrote), as it does a size error."""


class FormatMismatch(ImageContentError):
    """The content is not in the claimed disk_format, or is in more than one format."""


class UnsafeImage(ImageContentError):
    """The content fails a safety check of its format."""


class ImpossibleSize(ImageContentError):
    """The header claims a virtual size larger than any disk (and than the column holds)."""


class VHDInspector(format_inspector.VHDInspector):
    """The library's VHD inspector, refusing a differencing disk, which reads its data
    from a parent file named in its header."""

    def _initialize(self):
        super()._initialize()
        self.add_safety_check(format_inspector.SafetyCheck("differencing",
                                                           self.check_differencing))

    def check_differencing(self):
        (disk_type,) = struct.unpack(">I", self.region("header").data[60:64])
        if disk_type == VHD_DIFFERENCING:
            raise format_inspector.SafetyViolation("vhd is a differencing disk of another file")


class VHDXInspector(format_inspector.VHDXInspector):
    """The library's VHDX inspector, also capturing the file parameters item of the
    metadata region, to refuse a differencing disk (HasParent)."""

    def _initialize(self):
        super()._initialize()
        self.add_safety_check(format_inspector.SafetyCheck("differencing",
                                                           self.check_differencing))

    def post_process(self):
        super().post_process()
        if self.has_region("metadata") and not self.has_region("parameters"):
            region = self._find_meta_entry(VHDX_FILE_PARAMETERS)
            if region:
                self.new_region("parameters", region)

    def check_differencing(self):
        if not self.has_region("parameters"):
            raise format_inspector.SafetyViolation("vhdx has no file parameters")
        data = self.region("parameters").data
        if len(data) < 8 or struct.unpack("<I", data[4:8])[0] & VHDX_HAS_PARENT:
            raise format_inspector.SafetyViolation("vhdx is a differencing disk of another file")


FORMATS = {**format_inspector.ALL_FORMATS, "vhd": VHDInspector, "vhdx": VHDXInspector}


class StreamInspector:
    """Feed it the chunks of a stream in order; `detected()` names what they are.

    Every inspector but raw's sees the chunks until `settle()` (the head is in, or the
    stream ended); from then on only the one that matched, while it still needs data.
    """

    def __init__(self):
        self.size = 0
        self._inspectors = {name: cls() for name, cls in FORMATS.items() if name != "raw"}
        self._settled = False
        self._tail = b""  # the last 512 bytes: a fixed VHD's only footer

    def feed(self, chunk) -> None:
        self.size += len(chunk)
        hungry = [(name, inspector) for name, inspector in self._inspectors.items()
                  if not (self._settled and inspector.complete)]
        if hungry:
            # In pieces: an inspector finds where its next region lies only between two
            # chunks, so one large chunk holding both a region and the next would pass
            # the second by (a vhdx's metadata table and items, read in 4 MiB chunks).
            for start in range(0, len(chunk), PIECE):
                piece = bytes(chunk[start:start + PIECE])
                for name, inspector in hungry:
                    if name in self._inspectors:
                        self._eat(name, inspector, piece)
        self._tail = (self._tail + bytes(chunk[-VHD_FOOTER:]))[-VHD_FOOTER:]

    def _eat(self, name, inspector, piece):
        try:
            inspector.eat_chunk(piece)
        except Exception:  # noqa: BLE001 - as InspectWrapper does: data this inspector
            # cannot parse is not its format, and must not stop the stream
            del self._inspectors[name]

    def finish(self) -> None:
        for inspector in self._inspectors.values():
            inspector.finish()

    def settle(self):
        """Keep only the inspector of what the data is; return its name and inspector
        (None for raw). Raises FormatMismatch for data in two formats."""
        matched = {name: inspector for name, inspector in self._inspectors.items()
                   if inspector.format_match}
        if matched.keys() == {"iso", "gpt"}:
            # A bootable ISO may carry an MBR or GPT boot loader in front (Glance's rule).
            del matched["gpt"]
        if len(matched) > 1:
            raise FormatMismatch(f"Image data matches more than one format "
                                 f"({', '.join(sorted(matched))}); it is refused, since each "
                                 f"reader would see a different disk")
        self._inspectors = matched
        self._settled = True
        return next(iter(matched.items()), ("raw", None))

    def fixed_vhd_size(self):
        """The virtual size in a fixed VHD's footer, None when the tail is not one."""
        tail = self._tail
        if (len(tail) == VHD_FOOTER and tail.startswith(b"conectix")
                and struct.unpack(">I", tail[60:64])[0] == VHD_FIXED):
            return struct.unpack(">Q", tail[48:56])[0]
        return None


def _bare(container_format):
    return container_format is None or container_format in BARE_CONTAINERS


def _expected(claimed):
    """What the data of a claimed disk_format must be: a format name, or None when the
    claim cannot be verified (ploop, or none)."""
    if claimed in RAW_ALIASES:
        return "raw"
    return claimed if claimed in INSPECTABLE else None


def check_claim(detected, claimed, container_format):
    """Raise FormatMismatch unless data detected as `detected` may carry `claimed`."""
    if not _bare(container_format):
        return  # the disk inside a package cannot be seen
    expected = _expected(claimed)
    if detected == "gpt":
        detected = "raw"  # a partitioned disk is a raw image
    if expected is None:
        # An unverifiable claim is only refused when the data is recognisably another
        # format, so a qcow2 cannot be smuggled in under that name.
        if detected == "raw":
            return
    elif detected == expected:
        return
    raise FormatMismatch(f"Image data is {detected}, but its disk_format is "
                         f"{claimed or 'not set'}")


def check_safety(name, inspector, claimed):
    """Run the format's safety checks; raise UnsafeImage for any that fails."""
    if inspector is None or (name == "gpt" and claimed in UNPARTITIONED):
        return
    try:
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        reasons = "; ".join(f"{check}: {failure}" for check, failure in exc.failures.items())
        raise UnsafeImage(f"Unsafe image: {name} fails its safety checks ({reasons})") from exc
    except format_inspector.ImageFormatError as exc:
        raise UnsafeImage(f"Unsafe image: {name} cannot be checked ({exc})") from exc


def check_size(virtual_size):
    if virtual_size is not None and virtual_size > MAX_VIRTUAL_SIZE:
        raise ImpossibleSize(f"Image header claims a virtual size of {virtual_size} "
                             f"bytes, more than the largest possible ({MAX_VIRTUAL_SIZE})")


class InspectingReader:
    """Inspects the bytes read through it and stops the stream once they are refused.

    The verdict comes as soon as the 1 MiB head is in, so a refused 50 GiB upload stops
    there; shorter images, safety checks that need data beyond the head (a vhdx's
    metadata, a streamOptimized vmdk's footer) and a raw head claimed as vhd (a fixed VHD
    has its footer at the end) are judged at the end of the stream. Either way the error
    is raised from `read()`, inside the store's save(), which removes what it wrote.
    """

    def __init__(self, stream, *, disk_format, container_format="bare"):
        self._stream = stream
        self.disk_format = disk_format
        self.container_format = container_format
        self.inspector = StreamInspector()
        self.detected = None  # (name, inspector), once settled
        self._virtual_size = None
        self._finished = False

    def read(self, n=-1):
        chunk = self._stream.read(n)
        if chunk:
            self.inspector.feed(chunk)
            if self.detected is None and self.inspector.size >= HEAD_SIZE:
                self._judge_head()
        else:
            self.finish()
        return chunk

    @property
    def size(self):
        """Bytes read through so far."""
        return self.inspector.size

    def _judge_head(self):
        self.detected = name, inspector = self.inspector.settle()
        if name == "raw" and _expected(self.disk_format) == "vhd":
            return  # maybe a fixed VHD: its footer is at the end
        check_claim(name, self.disk_format, self.container_format)
        if inspector is not None and inspector.complete:
            check_safety(name, inspector, self.disk_format)
            check_size(inspector.virtual_size)

    def finish(self):
        """Judge the whole stream; raises if it is refused. Idempotent."""
        if self._finished:
            return
        self.inspector.finish()
        name, inspector = self.detected or self.inspector.settle()
        self.detected = name, inspector
        fixed_vhd = self.inspector.fixed_vhd_size() if name == "raw" else None
        if fixed_vhd is not None and _expected(self.disk_format) == "vhd":
            name, virtual_size = "vhd", fixed_vhd
        else:
            virtual_size = inspector.virtual_size if inspector is not None else None
        check_claim(name, self.disk_format, self.container_format)
        check_safety(name, inspector, self.disk_format)
        check_size(virtual_size)
        self._virtual_size = virtual_size or None
        self._finished = True

    def virtual_size(self):
        """The virtual size to record: the data size for raw, the header's for the others,
        None when it cannot be known (ploop, or a disk inside a package container)."""
        self.finish()
        if not _bare(self.container_format):
            return None
        expected = _expected(self.disk_format)
        if expected == "raw":
            return self.size
        return self._virtual_size if expected is not None else None
