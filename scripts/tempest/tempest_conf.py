"""Print the tempest.conf of the image suite: `tempest_conf.py WORKSPACE` (values from the
environment: KEYSTONE_URL, KEYSTONE_ADMIN_PASSWORD, HTTP_IMAGE_URL).

Only the image service is declared available. Every [image-feature-enabled] flag is set, with
why: they are those of a Glance 33 with file stores and interoperable import, so that a run
here compares with Glance's flag by flag (Glance passes 55 of the 56 tests they select).
"""
import os
import sys

workspace = sys.argv[1]
env = os.environ

print(f"""\
# Written by scripts/tempest-image (scripts/tempest/tempest_conf.py) before each run.
[DEFAULT]
log_dir = {workspace}/logs
log_file = tempest.log
use_stderr = False

[oslo_concurrency]
lock_path = {workspace}/locks

[auth]
admin_username = admin
admin_password = {env["KEYSTONE_ADMIN_PASSWORD"]}
admin_project_name = admin
admin_domain_name = Default
# a project and user of its own for each test class and role, deleted after it
use_dynamic_credentials = True
create_isolated_networks = False
default_credentials_domain_name = Default

[identity]
auth_version = v3
uri_v3 = {env["KEYSTONE_URL"]}/v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = False
api_v3 = True

[enforce_scope]
# Glance 33 enforces oslo.policy's new defaults with scopes: Tempest then does its read-only
# calls as a project reader.
glance = True

[service_available]
glance = True
nova = False
cinder = False
neutron = False
swift = False
horizon = False

[image]
catalog_type = image
endpoint_type = public
region = RegionOne
# Offline: both "http accessible" images are a tiny valid qcow2 served on loopback for the
# run (web-download fetches only ports 80 and 443 unless allowed otherwise).
http_image = {env["HTTP_IMAGE_URL"]}
http_qcow2_image = {env["HTTP_IMAGE_URL"]}
build_timeout = 120
build_interval = 1

[image-feature-enabled]
# interoperable import: glance-direct, web-download, copy-image
import_image = True
# os_glance_* properties are reserved (since Wallaby)
os_glance_reserved = True
# the location tests need an http store on the service, Glance's has file stores only
manage_locations = False
http_store_enabled = False
# no image_conversion import plugin
image_conversion = False
# uploads are inspected: data must match the disk_format
image_format_enforcement = True
# os_hash_algo/os_hash_value computed on upload
do_secure_hash = True
# no store weights on Glance's side
store_weight_enabled = False

[validation]
run_validation = False
""")
