"""Writes of metadata definitions, shared by the API and the load_metadefs command, and the
JSON views of the records (Glance's wire form: unset fields are left out)."""
from django.db import IntegrityError, transaction

from images.exceptions import Conflict, Forbidden, NotFound
from images.representation import timestamp
from metadefs.models import (MetadefObject, MetadefProperty, MetadefTag, Namespace,
                             ResourceType, ResourceTypeAssociation)

NAMESPACE_FIELDS = ("namespace", "display_name", "description", "visibility", "protected",
                    "owner")


def _clean(view):
    return {key: value for key, value in view.items() if value is not None}


def _times(record):
    return {"created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at)}


def namespace_href(name):
    return f"/v2/metadefs/namespaces/{name}"


def namespace_view(namespace):
    return _clean({**{field: getattr(namespace, field) for field in NAMESPACE_FIELDS},
                   **_times(namespace), "self": namespace_href(namespace.namespace),
                   "schema": "/v2/schemas/metadefs/namespace"})


def association_view(association):
    return _clean({"name": association.resource_type.name, "prefix": association.prefix,
                   "properties_target": association.properties_target, **_times(association)})


def property_view(prop, *, with_name=True):
    return {**({"name": prop.name} if with_name else {}), **prop.json_schema}


def properties_view(properties, prefix=""):
    return {prefix + prop.name: property_view(prop, with_name=False) for prop in properties}


def object_view(obj, prefix=""):
    return _clean({"name": obj.name, "description": obj.description,
                   "required": [prefix + name for name in obj.required_list],
                   "properties": {prefix + name: schema
                                  for name, schema in (obj.json_schema or {}).items()},
                   **_times(obj),
                   "self": f"{namespace_href(obj.namespace.namespace)}/objects/{obj.name}",
                   "schema": "/v2/schemas/metadefs/object"})


def tag_view(tag):
    return {"name": tag.name, **_clean(_times(tag))}


def resource_type_view(resource_type):
    return _clean({"name": resource_type.name, **_times(resource_type)})


def namespace_detail_view(namespace, resource_type=None):
    """The namespace with its associations, properties, objects and tags; with
    `resource_type`, the properties' names carry that association's prefix."""
    view = namespace_view(namespace)
    associations = list(namespace.resource_type_associations.select_related("resource_type")
                        .order_by("resource_type__name"))
    prefix = next((a.prefix or "" for a in associations
                   if a.resource_type.name == resource_type), "")
    if associations:
        view["resource_type_associations"] = [association_view(a) for a in associations]
    properties = list(namespace.properties.order_by("name"))
    if properties:
        view["properties"] = properties_view(properties, prefix)
    objects = list(namespace.metadef_objects.order_by("name"))
    if objects:
        view["objects"] = [object_view(obj, prefix) for obj in objects]
    tags = list(namespace.tags.order_by("name"))
    if tags:
        view["tags"] = [{"name": tag.name} for tag in tags]
    return view


def saved(record, message):
    """Save `record`, a Conflict saying `message` if a unique name is taken."""
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise Conflict(message) from None
    return record


def property_schema_of(body):
    """What is stored of a property definition: everything but its name."""
    return {key: value for key, value in body.items() if key != "name"}


def resource_type_for(name, *, protected=False):
    resource_type, _ = ResourceType.objects.get_or_create(name=name,
                                                          defaults={"protected": protected})
    return resource_type


def association_add(namespace, body):
    """Associate the namespace with the resource type `body["name"]` (made if unknown)."""
    resource_type = resource_type_for(body["name"])
    if ResourceTypeAssociation.objects.filter(namespace=namespace,
                                              resource_type=resource_type).exists():
        raise Conflict(f"The metadata definition resource-type association of "
                       f"resource-type={body['name']} to namespace={namespace.namespace}, "
                       f"already exists.")
    association = ResourceTypeAssociation(namespace=namespace, resource_type=resource_type,
                                          prefix=body.get("prefix"),
                                          properties_target=body.get("properties_target"))
    return saved(association, f"Resource type {body['name']} is already associated with "
                               f"namespace {namespace.namespace}.")


def object_add(namespace, body):
    obj = MetadefObject(namespace=namespace)
    object_fill(obj, body)
    return saved(obj, f"A metadata definition object with name={body['name']} already "
                       f"exists in namespace={namespace.namespace}.")


def object_fill(obj, body):
    obj.name = body["name"]
    obj.description = body.get("description")
    obj.required = ",".join(body.get("required") or []) or None
    obj.json_schema = body.get("properties") or {}


def property_add(namespace, body):
    prop = MetadefProperty(namespace=namespace, name=body["name"],
                           json_schema=property_schema_of(body))
    return saved(prop, f"A metadata definition property with name={body['name']} already "
                        f"exists in namespace={namespace.namespace}.")


def tag_add(namespace, name):
    return saved(MetadefTag(namespace=namespace, name=name),
                  f"A metadata tag with name={name} already exists in "
                  f"namespace={namespace.namespace}.")


def tags_add(namespace, names, *, append):
    """Add the tags named `names`; unless `append`, they replace the namespace's tags."""
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise Conflict(f"Duplicate tag {sorted(duplicates)[0]} in the request.")
    with transaction.atomic():
        if not append:
            namespace.tags.all().delete()
        return [tag_add(namespace, name) for name in names]


@transaction.atomic
def namespace_create(body, owner):
    """A namespace from a definition, with its associations, properties, objects and tags;
    nothing of it is left when any part is refused."""
    fields = {field: body[field] for field in NAMESPACE_FIELDS if field in body}
    fields.setdefault("owner", owner)
    fields["visibility"] = fields.get("visibility") or Namespace.Visibility.PRIVATE
    fields["protected"] = bool(fields.get("protected", False))
    namespace = saved(Namespace(**fields), f"Namespace {body['namespace']} already exists")
    namespace_fill(namespace, body)
    return namespace


def namespace_fill(namespace, body):
    for association in body.get("resource_type_associations") or []:
        association_add(namespace, association)
    for name, schema in (body.get("properties") or {}).items():
        property_add(namespace, {**schema, "name": name})
    for obj in body.get("objects") or []:
        object_add(namespace, obj)
    for tag in body.get("tags") or []:
        tag_add(namespace, tag["name"])


def namespace_update(namespace, body, owner):
    """Glance's PUT: the fields left out return to their defaults (private, unprotected,
    the caller's project)."""
    namespace.namespace = body["namespace"]
    namespace.display_name = body.get("display_name")
    namespace.description = body.get("description")
    namespace.visibility = body.get("visibility") or Namespace.Visibility.PRIVATE
    namespace.protected = bool(body.get("protected", False))
    namespace.owner = body.get("owner") or owner
    return saved(namespace, f"Namespace {body['namespace']} already exists")


def check_unprotected(namespace):
    if namespace.protected:
        raise Forbidden(f"Namespace {namespace.namespace} is protected and cannot be deleted.")


def association_remove(namespace, resource_type_name):
    deleted, _ = ResourceTypeAssociation.objects.filter(
        namespace=namespace, resource_type__name=resource_type_name).delete()
    if not deleted:
        raise NotFound(f"The metadata definition resource-type association of "
                       f"resource-type={resource_type_name} to "
                       f"namespace={namespace.namespace}, was not found.")


# Definition files (Glance's etc/metadefs/*.json): load and export.

def definition_of(namespace):
    """The namespace as a definition file holds it (what `export_metadefs` writes)."""
    associations = namespace.resource_type_associations.select_related("resource_type")
    return {
        **{field: getattr(namespace, field) for field in NAMESPACE_FIELDS if field != "owner"},
        "owner": namespace.owner,
        "resource_type_associations": [
            _clean({"name": a.resource_type.name, "prefix": a.prefix,
                    "properties_target": a.properties_target})
            for a in associations.order_by("resource_type__name")],
        "properties": {prop.name: prop.json_schema
                       for prop in namespace.properties.order_by("name")},
        "objects": [_clean({"name": obj.name, "description": obj.description,
                            "required": obj.required_list or None,
                            "properties": obj.json_schema})
                    for obj in namespace.metadef_objects.order_by("name")],
        "tags": [{"name": tag.name} for tag in namespace.tags.order_by("name")],
    }


@transaction.atomic
def definition_load(definition, *, owner="admin"):
    """Create the definition's namespace, or bring an existing one to match it exactly
    (its properties, objects, tags and associations as the file says). Returns
    (namespace, created)."""
    name = definition["namespace"]
    existing = Namespace.objects.select_for_update().filter(namespace=name).first()
    fields = {"display_name": definition.get("display_name"),
              "description": definition.get("description"),
              "visibility": definition.get("visibility") or Namespace.Visibility.PRIVATE,
              "protected": bool(definition.get("protected", False)),
              "owner": definition.get("owner") or owner}
    if existing is None:
        namespace = Namespace.objects.create(namespace=name, **fields)
    else:
        namespace = existing
        for field, value in fields.items():
            setattr(namespace, field, value)
        namespace.save()
        namespace.resource_type_associations.all().delete()
        namespace.properties.all().delete()
        namespace.metadef_objects.all().delete()
        namespace.tags.all().delete()
    for association in definition.get("resource_type_associations") or []:
        # A resource type first named by a definition file is protected, as Glance's
        # loader makes it.
        resource_type_for(association["name"], protected=True)
    namespace_fill(namespace, definition)
    return namespace, existing is None
