"""Write a small valid qcow2 (version 2) with no data: `make_qcow2.py OUT [VIRTUAL_SIZE]`.

The web-download source of the Tempest run (its `http_image`), made without qemu-img. 64 KiB
clusters: cluster 0 the header, 1 the refcount table, 2 a refcount block, 3 the L1 table; no
data cluster is allocated, so a guest reads zeroes. `qemu-img check` finds no error and the
format inspector reads it as qcow2 with no backing or data file. Default size 1 MiB.
"""
import struct
import sys

CLUSTER_BITS = 16
CLUSTER = 1 << CLUSTER_BITS


def qcow2(virtual_size):
    """The image's bytes: four clusters."""
    l2_entries = CLUSTER // 8
    l1_size = max(1, -(-virtual_size // (l2_entries * CLUSTER)))
    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        b"QFI\xfb", 2,          # magic, version
        0, 0,                   # backing file offset, size
        CLUSTER_BITS, virtual_size,
        0,                      # no encryption
        l1_size, 3 * CLUSTER,   # L1 size, L1 offset
        1 * CLUSTER, 1,         # refcount table offset, its clusters
        0, 0)                   # no snapshots
    image = bytearray(4 * CLUSTER)
    image[:len(header)] = header
    struct.pack_into(">Q", image, CLUSTER, 2 * CLUSTER)   # the table's one entry: the block
    for cluster in range(4):                              # 16-bit refcounts, one per cluster
        struct.pack_into(">H", image, 2 * CLUSTER + 2 * cluster, 1)
    return bytes(image)


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as out:
        out.write(qcow2(int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20))
