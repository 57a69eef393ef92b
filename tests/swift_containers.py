"""Removing the Swift containers a test made, with their segments containers."""
from swiftclient import ClientException


def remove_with_segments(conn, *names):
    """Empty and delete each container and its `_segments` container; missing ones are fine."""
    for container in [f"{name}_segments" for name in names] + list(names):
        try:
            _, listing = conn.get_container(container, full_listing=True)
            for entry in listing:
                conn.delete_object(container, entry["name"])
            conn.delete_container(container)
        except ClientException:
            pass
