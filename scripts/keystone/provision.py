"""Provision the all-in-one Keystone: roles, projects, users and the image service's endpoints.

Runs with the Keystone venv's Python after `keystone-manage bootstrap` (which made `admin`,
its project and role, the region and the identity endpoints). Creates what is missing and
repairs what differs (passwords, role grants); the one thing it deletes is a duplicate image
endpoint. `--image-url` (re)points the image service's three endpoints; without it they are
created at `--default-image-url` when missing and otherwise left alone. `--check` then issues a
project-scoped token for every user, as `openstack token issue` does, and prints its roles.
"""
import argparse
import sys

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

ROLES = ("admin", "member", "reader", "service")
INTERFACES = ("public", "internal", "admin")
# user -> (project, roles there). Tempest makes its own users per test class; these are for
# trying the API by hand and for the service user that validates tokens (keystonemiddleware
# needs `admin`, or `service` under Keystone's newer policies: devstack grants both).
USERS = {
    "demo": ("demo", ("member", "reader")),
    "alt_demo": ("alt_demo", ("member", "reader")),
    "demo_reader": ("demo", ("reader",)),
    "glance": ("service", ("admin", "service")),
}


def ensure(found, create, what):
    """The first of `found`, else what `create()` makes (and says so)."""
    if found:
        return found[0]
    made = create()
    print("  created %s" % what)
    return made


def user_ensure(keystone, *, domain, name, password, project):
    """The user, created or brought back to `password` and enabled."""
    found = keystone.users.list(domain=domain, name=name)
    if found:
        return keystone.users.update(found[0], password=password, enabled=True)
    user = keystone.users.create(name=name, domain=domain, password=password,
                                 default_project=project, enabled=True)
    print("  created user %s" % name)
    return user


def role_grant(keystone, *, role, user, project):
    try:
        keystone.roles.check(role, user=user, project=project)
    except ks_exceptions.NotFound:
        keystone.roles.grant(role, user=user, project=project)
        print("  granted %s to %s on %s" % (role.name, user.name, project.name))


def image_endpoints_ensure(keystone, *, region, url, default_url):
    """One endpoint per interface for the `image` service, at `url` (else kept, or default)."""
    service = ensure(keystone.services.list(type="image"),
                     lambda: keystone.services.create(name="glance", type="image",
                                                      description="Image service"),
                     "service glance (type image)")
    for interface in INTERFACES:
        found = keystone.endpoints.list(service=service, interface=interface, region=region)
        if not found:
            keystone.endpoints.create(service=service, url=url or default_url,
                                      interface=interface, region=region, enabled=True)
            print("  created %s image endpoint %s" % (interface, url or default_url))
            continue
        for duplicate in found[1:]:
            keystone.endpoints.delete(duplicate)
        if url and (found[0].url != url or not found[0].enabled):
            keystone.endpoints.update(found[0], url=url, enabled=True)
            print("  %s image endpoint: %s -> %s" % (interface, found[0].url, url))
    return keystone.endpoints.list(service=service, interface="public", region=region)[0].url


def tokens_check(auth_url, passwords):
    """Issue a project-scoped token for each user; raises when one is refused."""
    for name, (project, _) in {"admin": ("admin", ()), **USERS}.items():
        auth = v3.Password(auth_url=auth_url, username=name, password=passwords[name],
                           project_name=project, user_domain_id="default",
                           project_domain_id="default")
        access = auth.get_access(ks_session.Session())
        print("  token for %s on %s: roles %s" % (name, project, ",".join(sorted(access.role_names))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auth-url", required=True, help="Keystone's /v3 URL")
    parser.add_argument("--region", default="RegionOne")
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--demo-password", required=True, help="demo, alt_demo, demo_reader")
    parser.add_argument("--service-password", required=True, help="the glance service user")
    parser.add_argument("--image-url", help="point the image endpoints here")
    parser.add_argument("--default-image-url", default="http://127.0.0.1:8000")
    parser.add_argument("--check", action="store_true", help="issue a token for every user")
    args = parser.parse_args()

    auth = v3.Password(auth_url=args.auth_url, username="admin", password=args.admin_password,
                       project_name="admin", user_domain_id="default",
                       project_domain_id="default")
    keystone = ks_client.Client(session=ks_session.Session(auth=auth), interface="public")
    domain = keystone.domains.get("default")
    roles = {name: ensure(keystone.roles.list(name=name),
                          lambda name=name: keystone.roles.create(name=name), "role %s" % name)
             for name in ROLES}
    projects = {name: ensure(keystone.projects.list(domain=domain, name=name),
                             lambda name=name: keystone.projects.create(name=name, domain=domain),
                             "project %s" % name)
                for name in ("demo", "alt_demo", "service")}
    passwords = {"admin": args.admin_password, "glance": args.service_password}
    for name, (project, granted) in USERS.items():
        password = passwords.setdefault(name, args.demo_password)
        user = user_ensure(keystone, domain=domain, name=name, password=password,
                           project=projects[project])
        for role in granted:
            role_grant(keystone, role=roles[role], user=user, project=projects[project])
    region = ensure([r for r in keystone.regions.list() if r.id == args.region],
                    lambda: keystone.regions.create(id=args.region), "region %s" % args.region)
    url = image_endpoints_ensure(keystone, region=region, url=args.image_url,
                                 default_url=args.default_image_url)
    print("  image endpoints: %s" % url)
    if args.check:
        tokens_check(args.auth_url, passwords)
    return 0


if __name__ == "__main__":
    sys.exit(main())
