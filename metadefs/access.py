"""Which namespaces a caller sees at all: private ones only by their owner project and
admins. What a caller may do with them is Glance's metadef rules' say (images/policy.py)."""
from django.db.models import Q

from images.exceptions import NotFound
from images.policy import allowed
from metadefs.models import Namespace


def target(namespace):
    """The policy target of a namespace and of everything in it."""
    return {"project_id": namespace.owner, "visibility": namespace.visibility}


def namespaces_visible_to(caller, queryset=None):
    """The namespaces the caller may see: all for admins, else public ones and their own."""
    queryset = Namespace.objects.all() if queryset is None else queryset
    if caller.admin:
        return queryset
    return queryset.filter(Q(visibility=Namespace.Visibility.PUBLIC) | Q(owner=caller.project))


def namespace_get_visible(caller, name, rule="get_metadef_namespace"):
    """The namespace named `name`, if the caller may see it and `rule` allows reading it;
    otherwise NotFound, as Glance answers for another project's private namespace."""
    try:
        namespace = namespaces_visible_to(caller).get(namespace=name)
    except Namespace.DoesNotExist:
        raise NotFound(f"Metadata definition namespace={name} was not found.") from None
    if not allowed(caller, rule, target(namespace)):
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    return namespace
