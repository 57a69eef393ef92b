"""What the management commands share: tables like the glance CLI's, and who acts."""
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.services import project_of
from images.exceptions import ImageError
from images.selectors import image_get

# The rows of the seed story's table, in its order.
IMAGE_ROWS = ("checksum", "container_format", "created_at", "disk_format", "id", "min_disk",
              "min_ram", "name", "owner", "protected", "size", "status", "updated_at",
              "virtual_size", "visibility", "os_hash_algo", "os_hash_value", "stores")


def table(rows, headers):
    """A table drawn like prettytable (what the glance CLI prints)."""
    rows = [[_text(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([rule, line(headers), rule, *map(line, rows), rule])


def _text(value):
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "None" if value is None else str(value)


def image_table(view):
    rows = [(key, view.get(key)) for key in IMAGE_ROWS]
    extra = sorted(k for k in view if k not in IMAGE_ROWS and k not in
                   ("self", "file", "schema", "locations", "tags", "os_hidden"))
    rows += [(key, view[key]) for key in extra]
    if view.get("tags"):
        rows.append(("tags", view["tags"]))
    return table(rows, ("Property", "Value"))


def owner_for(*, owner, username):
    """The project new images belong to: --owner, else the project of --user."""
    if owner:
        return owner
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user '{username}': pass --user USERNAME or --owner PROJECT_ID")
    return project_of(user)


def get_image_or_fail(image_id):
    try:
        return image_get(image_id)
    except ImageError as exc:
        raise CommandError(exc.message) from None
