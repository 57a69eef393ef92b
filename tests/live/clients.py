"""Helpers for the live tests: the `glance` CLI as a subprocess, its tables, and a requests
session on the portal's API."""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

GLANCE = Path(sys.executable).parent / "glance"
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
OCTET = {"Content-Type": "application/octet-stream"}
# urllib3's debug line for every response: `"GET /v2/images?limit=2 HTTP/1.1" 200 1375`
HTTP_LINE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1" (\d{3})')


def digests(data):
    """The image fields a server computes from these bytes."""
    return {"checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(), "size": len(data)}


def close_stdin():
    # glanceclient reads a non-tty stdin as image data, and refuses --file together with it.
    os.close(0)


def glance(portal, token, *args, home, timeout=120):
    """Run `glance --os-image-url URL --os-auth-token TOKEN ARGS` with fd 0 closed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)  # the shell caches the image schema in ~/.glanceclient
    return subprocess.run(
        [str(GLANCE), "--os-image-url", portal.url, "--os-auth-token", token, *map(str, args)],
        env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=close_stdin)


def http_calls(output):
    """(method, path, status) of every response in a `glance --debug` output."""
    seen = []
    for line in output.splitlines():
        if line.startswith("DEBUG:urllib3"):
            match = HTTP_LINE.search(line)
            if match:
                seen.append((match[1], match[2], int(match[3])))
    return seen


def table_rows(text, joiner=""):
    """The rows of the prettytable in `text`, as lists of cell strings; a row whose first cell
    is empty continues the row above (prettytable wraps long values at 80 characters)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(rows) > 1 and cells[0] == "":
            rows[-1] = [joiner.join(filter(None, pair)) for pair in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return rows


def property_table(text, joiner=""):
    """A Property/Value table (image-show, image-create, ...) as a dict; wrapped values are
    joined with `joiner` ("" suits ids and digests, " " JSON text wrapped at its spaces)."""
    rows = table_rows(text, joiner)
    assert rows and rows[0] == ["Property", "Value"], text
    return dict(rows[1:])


def list_table(text):
    """A list table (image-list, member-list, ...) as a list of dicts keyed by the header."""
    rows = table_rows(text)
    assert rows, text
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def wait_until(condition, *, timeout=60, interval=0.5, message="condition"):
    """Poll `condition()` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {message}"
        time.sleep(interval)


def check_request_id(response, *args, **kwargs):
    request_id = response.headers.get("x-openstack-request-id", "")
    assert re.fullmatch(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        request_id), (
        f"{response.request.method} {response.request.path_url} answered "
        f"{response.status_code} without x-openstack-request-id: req-<uuid>")


def api_session(portal, token):
    """A requests session sending `token`; `session.base` is the portal's URL. Every response
    is checked for an `x-openstack-request-id`. It asks for JSON, as openstacksdk does: errors
    come as JSON only to a client that prefers it (`*/*` gets webob's HTML page)."""
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    if token:
        session.headers["X-Auth-Token"] = token
    session.base = portal.url
    session.hooks["response"].append(check_request_id)
    return session


def create_image(api, **fields):
    body = {"name": "live", "disk_format": "raw", "container_format": "bare", **fields}
    response = api.post(api.base + "/v2/images", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def upload_image(api, image, data, store=None):
    headers = dict(OCTET, **({"X-Image-Meta-Store": store} if store else {}))
    response = api.put(api.base + f"/v2/images/{image['id']}/file", data=data, headers=headers)
    assert response.status_code == 204, response.text
    return show_image(api, image["id"])


def show_image(api, image_id):
    response = api.get(api.base + f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    return response.json()


def patch_image(api, image_id, ops, content_type=PATCH_TYPE):
    return api.patch(api.base + f"/v2/images/{image_id}", data=json.dumps(ops),
                     headers={"Content-Type": content_type})


def listed_ids(api, **params):
    """Ids of every image the caller's list shows with these filters, following `next`."""
    ids, url = [], api.base + "/v2/images"
    params = {"limit": 1000, **params}
    while url:
        response = api.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [image["id"] for image in page["images"]]
        url, params = (api.base + page["next"], None) if page.get("next") else (None, None)
    return ids


def copy_into(api, image_id, *stores):
    """A copy-image import into `stores`, waited for until every store holds the image."""
    response = api.post(api.base + f"/v2/images/{image_id}/import",
                        json={"method": {"name": "copy-image"}, "stores": list(stores)})
    assert response.status_code == 202, response.text

    def copied():
        image = show_image(api, image_id)
        done = not image.get("os_glance_importing_to_stores")
        return done and set(stores) <= set(image.get("stores", "").split(",")) and image

    return wait_until(copied, message=f"copy of {image_id} into {stores}")


def project_of(api):
    """The caller's project id: the owner of an image it creates (and deletes again)."""
    image = create_image(api, name="whoami")
    api.delete(api.base + image["self"])
    return image["owner"]


def stored_files(portal):
    """Every object in the portal's file stores, as (store, name) pairs."""
    root = portal.data_dir / "images"
    return {(store.name, path.name) for store in root.iterdir() for path in store.iterdir()}


def assert_error(response, code):
    """The response has status `code` and the JSON error body glanceclient and openstacksdk
    both read; returns its message."""
    assert response.status_code == code, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
              415: "Unsupported Media Type"}
    assert error["code"] == code and error["title"] == titles[code], error
    assert isinstance(error["message"], str) and error["message"], error
    return error["message"]
