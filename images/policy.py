"""Who may do what: Glance's policy rules, by Glance's names and with its default (secure
RBAC) check strings, enforced by oslo.policy.

Because the names are Glance's, an operator's existing policy.yaml for Glance applies here
unchanged (`[oslo_policy] policy_file` in the configuration). The rules say what a role may
do; which images a caller sees at all is still decided by the queries in images/selectors.py,
so a rule that allows more than Glance's default never reveals another project's private
image.
"""
from django.conf import settings
from oslo_config import cfg
from oslo_policy import policy

from images.exceptions import Forbidden

ADMIN = "rule:context_is_admin"
SERVICE = "rule:service_api"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
IMAGE_MEMBER = "project_id:%(member_id)s"
SHARED_OR_OPEN = ("project_id:%(project_id)s or project_id:%(member_id)s or "
                  "'community':%(visibility)s or 'public':%(visibility)s or "
                  "'shared':%(visibility)s")

ADMIN_OR_PROJECT_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_PROJECT_READER = f"{ADMIN} or ({PROJECT_READER})"
ADMIN_OR_READER_OF_VISIBLE = f"{ADMIN} or (role:reader and ({SHARED_OR_OPEN}))"
ADMIN_OR_MEMBER_OF_VISIBLE = f"{ADMIN} or (role:member and ({SHARED_OR_OPEN}))"
ADMIN_OR_MEMBER_CREATING = f"{ADMIN} or ({PROJECT_MEMBER} and project_id:%(owner)s)"
ADMIN_OR_SHARED_MEMBER = f"{ADMIN} or (role:member and {IMAGE_MEMBER})"
ADMIN_OR_READER_OR_SHARED_MEMBER = (
    f"{ADMIN} or role:reader and (project_id:%(project_id)s or {IMAGE_MEMBER})")
ADMIN_OR_READER_OF_NAMESPACE = (
    f"{ADMIN} or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))")
SERVICE_OR_PROJECT_MEMBER = f"{SERVICE} or ({PROJECT_MEMBER} and project_id:%(owner)s)"

BASE_RULES = {
    "default": "",
    "context_is_admin": "role:admin",
    "service_api": "role:service or role:admin",
    "metadef_default": "",
    "metadef_admin": ADMIN,
}

RULES = {
    # Images
    "add_image": ADMIN_OR_MEMBER_CREATING,
    "get_image": ADMIN_OR_READER_OF_VISIBLE,
    "get_images": ADMIN_OR_PROJECT_READER,
    "modify_image": ADMIN_OR_PROJECT_MEMBER,
    "delete_image": ADMIN_OR_PROJECT_MEMBER,
    "publicize_image": ADMIN,
    "communitize_image": ADMIN_OR_PROJECT_MEMBER,
    "download_image": ADMIN_OR_MEMBER_OF_VISIBLE,
    "download_from_store": ADMIN_OR_MEMBER_OF_VISIBLE,
    "upload_image": ADMIN_OR_PROJECT_MEMBER,
    "deactivate": ADMIN_OR_PROJECT_MEMBER,
    "reactivate": ADMIN_OR_PROJECT_MEMBER,
    "copy_image": ADMIN,
    # Locations and stores
    "get_image_location": ADMIN_OR_PROJECT_READER,
    "set_image_location": ADMIN_OR_PROJECT_MEMBER,
    "delete_image_location": ADMIN,
    "add_image_location": SERVICE_OR_PROJECT_MEMBER,
    "fetch_image_location": SERVICE,
    "stores_info_detail": f"{ADMIN} or {SERVICE}",
    # Members
    "add_member": ADMIN_OR_PROJECT_MEMBER,
    "delete_member": ADMIN_OR_PROJECT_MEMBER,
    "get_member": ADMIN_OR_READER_OR_SHARED_MEMBER,
    "get_members": ADMIN_OR_READER_OR_SHARED_MEMBER,
    "modify_member": ADMIN_OR_SHARED_MEMBER,
    # Tasks
    "tasks_api_access": ADMIN,
    "get_task": "rule:default",
    "get_tasks": "rule:default",
    "add_task": "rule:default",
    "modify_task": "rule:default",
    # Metadata definitions
    "get_metadef_namespace": ADMIN_OR_READER_OF_NAMESPACE,
    "get_metadef_namespaces": ADMIN_OR_PROJECT_READER,
    "modify_metadef_namespace": "rule:metadef_admin",
    "add_metadef_namespace": "rule:metadef_admin",
    "delete_metadef_namespace": "rule:metadef_admin",
    "get_metadef_object": ADMIN_OR_READER_OF_NAMESPACE,
    "get_metadef_objects": ADMIN_OR_READER_OF_NAMESPACE,
    "modify_metadef_object": "rule:metadef_admin",
    "add_metadef_object": "rule:metadef_admin",
    "delete_metadef_object": "rule:metadef_admin",
    "list_metadef_resource_types": ADMIN_OR_READER_OF_NAMESPACE,
    "get_metadef_resource_type": ADMIN_OR_READER_OF_NAMESPACE,
    "add_metadef_resource_type_association": "rule:metadef_admin",
    "remove_metadef_resource_type_association": "rule:metadef_admin",
    "get_metadef_property": ADMIN_OR_READER_OF_NAMESPACE,
    "get_metadef_properties": ADMIN_OR_READER_OF_NAMESPACE,
    "modify_metadef_property": "rule:metadef_admin",
    "add_metadef_property": "rule:metadef_admin",
    "remove_metadef_property": "rule:metadef_admin",
    "get_metadef_tag": ADMIN_OR_READER_OF_NAMESPACE,
    "get_metadef_tags": ADMIN_OR_READER_OF_NAMESPACE,
    "modify_metadef_tag": "rule:metadef_admin",
    "add_metadef_tag": "rule:metadef_admin",
    "add_metadef_tags": "rule:metadef_admin",
    "delete_metadef_tag": "rule:metadef_admin",
    "delete_metadef_tags": "rule:metadef_admin",
}

_enforcer = None


def enforcer():
    """The process's Enforcer: the defaults above, overridden by the operator's policy file.

    oslo.policy re-reads the file when it changes, as it does for Glance.
    """
    global _enforcer
    if _enforcer is None:
        conf = cfg.ConfigOpts()
        conf([], project="image-portal", default_config_files=[], default_config_dirs=[])
        defaults = [policy.RuleDefault(name, check) for name, check in BASE_RULES.items()] + [
            policy.RuleDefault(name, check, scope_types=["project"])
            for name, check in RULES.items()]
        policy_file = settings.POLICY_FILE
        if policy_file:
            # Only the file named: oslo.config would otherwise look for a policy.yaml and a
            # policy.d in the home and /etc folders.
            built = policy.Enforcer(conf, policy_file=str(policy_file))
            conf.set_override("policy_dirs", [], group="oslo_policy")
        else:
            built = policy.Enforcer(conf, use_conf=False, rules=policy.Rules.from_dict(
                {**BASE_RULES, **RULES}))
        built.register_defaults(defaults)
        built.load_rules()
        _enforcer = built
    return _enforcer


def reset():
    """Forget the Enforcer (a test that changes POLICY_FILE)."""
    global _enforcer
    _enforcer = None


def credentials(caller):
    return {"roles": sorted(caller.roles), "project_id": caller.project,
            "user_id": caller.user_id, "is_admin": caller.admin}


def allowed(caller, rule, target=None):
    """Whether the policy lets `caller` do `rule` on `target` (a dict: project_id, owner,
    visibility, member_id...). The caller's own project fills what the target leaves out."""
    full = {"project_id": caller.project, "owner": caller.project, "member_id": None,
            "visibility": None}
    full.update(target or {})
    try:
        return enforcer().enforce(rule, full, credentials(caller))
    except policy.InvalidScope:
        # A system- or domain-scoped token: the image API acts within a project.
        return False


def authorize(caller, rule, target=None, message=None):
    """Raise Forbidden (403) unless the policy lets `caller` do `rule` on `target`."""
    if not allowed(caller, rule, target):
        raise Forbidden(message or f"Policy doesn't allow {rule} to be performed.")


def image_target(image, caller=None, *, member=False):
    """Glance's target for an image: its owner as project_id and owner, its visibility, and
    the caller's project as member_id when `member` says the caller is one of its members."""
    return {"project_id": image.owner, "owner": image.owner,
            "visibility": image.visibility,
            "member_id": caller.project if (member and caller is not None) else None}
