"""Glance's Swift large objects, written into Swift the way glance_store writes them."""


def glance_dlo_write(conn, container, image_id, data, chunk_size):
    """Write `data` as glance_store's Swift driver writes an image of unknown size, or one
    over swift_store_large_object_size (glance_store/_drivers/swift/store.py, add()).

    Segments "%s-%05d" % (image_id, n), n from 1, of `chunk_size` bytes (the last one
    shorter, none of zero length) go in `container` itself, then a zero-byte manifest named
    `image_id` with X-Object-Manifest: "<container>/<image_id>-". Like glance_store, no
    Content-Type is sent (Swift's default, application/octet-stream, applies), and the
    container is created when missing. Returns the segment names.
    """
    conn.put_container(container)  # glance_store HEADs first; a PUT of an existing one keeps it
    names = []
    for number, start in enumerate(range(0, len(data), chunk_size), start=1):
        name = "%s-%05d" % (image_id, number)
        chunk = data[start:start + chunk_size]
        conn.put_object(container, name, chunk, content_length=len(chunk))
        names.append(name)
    conn.put_object(container, image_id, None,
                    headers={"X-Object-Manifest": f"{container}/{image_id}-"})
    return names
