"""Byte stores: drivers that save, read and delete image data, and the URIs that locate it.

Nothing here knows about images; `images` imports `stores`, never the reverse.
"""
