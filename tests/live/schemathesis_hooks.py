"""Lets schemathesis send the JSON-patch media type of `PATCH /v2/images/ID`."""
import json

import schemathesis


@schemathesis.serializer("application/openstack-images-v2.1-json-patch")
def json_patch(ctx, value):
    return json.dumps(value).encode()
