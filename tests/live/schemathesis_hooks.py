"""Lets schemathesis send the JSON-patch media type of `PATCH /v2/images/ID`."""
import json

import schemathesis


@schemathesis.serializer("application/openstack-images-v2.1-json-patch")
def json_patch(ctx, value):
    return json.dumps(value).encode()


# Glance's image_property_quota and image_tag_quota: 128 each.
LIMIT = 128


@schemathesis.hook
def map_body(ctx, body):
    """Half of the generated image-create bodies also carry properties and tags at the limits:
    127 to 130 of each, with values of the longest allowed length (255) and one past it, so a
    create at, just under and just over the limits is sent too; all must be answered 4xx or
    2xx, never 500."""
    operation = ctx.operation
    if (operation is None or operation.method.upper() != "POST"
            or operation.path != "/v2/images" or not isinstance(body, dict)):
        return body
    variant = len(json.dumps(body, sort_keys=True, default=str)) % 8
    if variant < 4:
        return body
    count = LIMIT - 1 + variant - 4  # 127, 128, 129, 130
    length = 255 + variant % 2
    return {**body, **{f"x_limit_{i}": "v" * length for i in range(count)},
            "tags": [f"t{i}".ljust(length, "t") for i in range(count)]}
