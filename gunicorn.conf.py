"""gunicorn settings read from the working folder by every `gunicorn portal.wsgi` here.

The Image API v1 (the seed story's `glance --os-image-api-version 1 image-create ...`)
sends headers with underscores: x-image-meta-disk_format, -container_format, -is_public,
-min_ram, -min_disk. gunicorn 22+ drops such headers unless told to keep them; "dangerous"
maps them to the same names as their dashed spelling, as WSGI servers always did. The
portal trusts no header a proxy would set (no X-Forwarded-*), so the ambiguity costs
nothing here; a proxy in front needs to pass them too (nginx: underscores_in_headers on).
"""
header_map = "dangerous"
