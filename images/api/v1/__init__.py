"""Image API v1 (removed from Glance in Rocky, 2018): the subset `glance --os-image-api-version 1`
uses, so the commands of the seed story run verbatim (see image-api.md §10).

Metadata travels in `x-image-meta-*` headers, the body is the image's bytes, and
`x-image-meta-store` chooses the store. Every request maps onto the v2 records and services.
"""
