"""Template filters of the portal."""
from django import template

register = template.Library()
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


@register.filter
def binary_size(value):
    """1536 → "1.5 KiB": powers of 1024, named as such (the upload page counts in MiB too)."""
    if value is None or value == "":
        return "–"
    size = float(value)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
