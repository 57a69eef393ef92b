"""The metadata definitions API (`/v2/metadefs/...`), as Glance answers it: namespaces with
their objects, properties, tags and resource type associations, and the resource types."""
import json
from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from images.api import openapi as doc
from images.api import schemas as schemas_view
from images.api.common import ApiView
from images.api.listing import parse_limit
from images.exceptions import Forbidden, Invalid, NotFound
from images.policy import allowed, authorize
from metadefs import schemas, services
from metadefs.access import namespace_get_visible, namespaces_visible_to, target
from metadefs.models import ResourceType, ResourceTypeAssociation

NAME_LENGTH = 80
SORT_KEYS = ("namespace", "display_name", "created_at", "updated_at", "visibility", "owner",
             "id")
TRUE = ("1", "t", "true", "on", "y", "yes")
OBJECT = {"application/json": doc.ANY_OBJECT}


class OperationNames(AutoSchema):
    """OpenAPI operation ids from the view's class, unique where paths nest."""

    def get_operation_id(self):
        return f"metadefs_{type(self.view).__name__}_{self.method.lower()}"


class MetadefView(ApiView):
    schema = OperationNames()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # No name holds a NUL character, and PostgreSQL refuses to compare one.
        if any("\x00" in value for value in [*kwargs.values(), *request.query_params.values()]):
            raise NotFound("No metadata definition has a NUL character in its name.")


def documented(*codes, request=False):
    """The OpenAPI description of a metadef operation: a JSON object in and out."""
    return extend_schema(request=OBJECT if request else None,
                         responses={200: doc.ANY_OBJECT, **doc.errors(*codes)})


def checked_body(view, request, schema, read_only=("self", "schema", "created_at",
                                                   "updated_at")):
    """The request's JSON object: 403 naming a read-only attribute, 400 unless it is valid
    against `schema`, and 400 for a name longer than Glance's columns hold or for a NUL
    character, which no database column takes."""
    body = view.json_body(request)
    if isinstance(body, dict):
        for key in read_only:
            if key in body:
                raise Forbidden(f"Attribute '{key}' is read-only.")
    schemas.validate(body, schema)
    _check_names(body)
    if "\\u0000" in json.dumps(body):
        raise Invalid("A NUL character is not allowed in metadata definitions.")
    return body


def _check_names(body):
    names = [body.get("name"), body.get("namespace"), body.get("prefix"),
             body.get("properties_target"), body.get("display_name")]
    names += list((body.get("properties") or {}).keys())
    for part in ("objects", "resource_type_associations", "tags"):
        for item in body.get(part) or []:
            names += [item.get("name"), item.get("prefix"), item.get("properties_target")]
            names += list((item.get("properties") or {}).keys())
    for name in names:
        if isinstance(name, str) and len(name) > NAME_LENGTH:
            raise Invalid(f"Name {name[:NAME_LENGTH]}... is longer than {NAME_LENGTH} "
                          f"characters.")


def _namespace(request, name, rule=None):
    """The visible namespace `name` (404 otherwise), and 403 unless `rule` allows the
    caller to act on it."""
    namespace = namespace_get_visible(request.caller, name)
    if rule:
        authorize(request.caller, rule, target(namespace))
    return namespace


def _caller_target(request, **extra):
    return {"project_id": request.caller.project, **extra}


class NamespaceListView(MetadefView):
    @extend_schema(parameters=[
        OpenApiParameter("limit", int), OpenApiParameter("marker", str),
        OpenApiParameter("sort_key", str, enum=list(SORT_KEYS)),
        OpenApiParameter("sort_dir", str, enum=["asc", "desc"]),
        OpenApiParameter("visibility", str, enum=["public", "private"]),
        OpenApiParameter("resource_types", str)],
        responses={200: doc.ANY_OBJECT, **doc.errors(400, 401, 403, 404)})
    def get(self, request):
        caller, params = request.caller, request.query_params
        authorize(caller, "get_metadef_namespaces", _caller_target(request))
        authorize(caller, "list_metadef_resource_types", _caller_target(request))
        limit = parse_limit(params)
        sort_key = params.get("sort_key", "created_at")
        sort_dir = params.get("sort_dir", "desc")
        if sort_key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {sort_key}")
        if sort_dir not in ("asc", "desc"):
            raise Invalid(f"Invalid sort direction: {sort_dir}")
        queryset = namespaces_visible_to(caller)
        visibility = params.get("visibility")
        if visibility:
            if visibility not in ("public", "private"):
                raise Invalid(f"Invalid visibility value: {visibility}")
            queryset = queryset.filter(visibility=visibility)
        if params.get("resource_types"):
            names = [name for name in params["resource_types"].split(",") if name]
            queryset = queryset.filter(
                resource_type_associations__resource_type__name__in=names).distinct()
        namespaces = [ns for ns in queryset
                      if allowed(caller, "get_metadef_namespace", target(ns))]
        # Sorted here rather than by the database, so that NULLs and ties come out the same
        # on every engine; a deployment holds dozens of namespaces, not millions.
        namespaces.sort(key=lambda ns: (getattr(ns, sort_key) is None,
                                        getattr(ns, sort_key) or "", ns.created_at, ns.id),
                        reverse=sort_dir == "desc")
        if params.get("marker"):
            names = [ns.namespace for ns in namespaces]
            if params["marker"] not in names:
                raise NotFound(f"Metadata definition namespace={params['marker']} was not "
                               f"found.")
            namespaces = namespaces[names.index(params["marker"]) + 1:]
        page = namespaces[:limit]
        query = {key: value for key, value in params.items() if key != "marker"}
        body = {"namespaces": [self._summary(ns) for ns in page],
                "first": "/v2/metadefs/namespaces" + (f"?{urlencode(query)}" if query else ""),
                "schema": "/v2/schemas/metadefs/namespaces"}
        if page and len(page) == limit:
            body["next"] = "/v2/metadefs/namespaces?" + urlencode(
                {**query, "marker": page[-1].namespace})
        return Response(body)

    @staticmethod
    def _summary(namespace):
        view = services.namespace_view(namespace)
        associations = list(namespace.resource_type_associations
                            .select_related("resource_type").order_by("resource_type__name"))
        if associations:
            view["resource_type_associations"] = [services.association_view(a)
                                                   for a in associations]
        return view

    @documented(400, 401, 403, 404, 409, request=True)
    def post(self, request):
        caller = request.caller
        body = checked_body(self, request, schemas.namespace_schema())
        rule_target = _caller_target(request, visibility=body.get("visibility"))
        authorize(caller, "add_metadef_namespace", rule_target)
        for part, rule in (("resource_type_associations", "add_metadef_resource_type_association"),
                           ("objects", "add_metadef_object"), ("properties", "add_metadef_property"),
                           ("tags", "add_metadef_tag")):
            if body.get(part):
                authorize(caller, rule, rule_target)
        namespace = services.namespace_create(body, owner=caller.project)
        return Response(services.namespace_detail_view(namespace), status=status.HTTP_201_CREATED,
                        headers={"Location": services.namespace_href(namespace.namespace)})


class NamespaceDetailView(MetadefView):
    @extend_schema(parameters=[OpenApiParameter("resource_type", str)],
                   responses={200: doc.ANY_OBJECT, **doc.errors(401, 403, 404)})
    def get(self, request, namespace):
        ns = _namespace(request, namespace)
        for rule in ("list_metadef_resource_types", "get_metadef_objects",
                     "get_metadef_properties", "get_metadef_tags"):
            authorize(request.caller, rule, target(ns))
        return Response(services.namespace_detail_view(
            ns, request.query_params.get("resource_type")))

    @documented(400, 401, 403, 404, 409, request=True)
    def put(self, request, namespace):
        ns = _namespace(request, namespace, "modify_metadef_namespace")
        body = checked_body(self, request, schemas.namespace_schema())
        ns = services.namespace_update(ns, body, owner=request.caller.project)
        return Response(services.namespace_view(ns))

    @documented(401, 403, 404)
    def delete(self, request, namespace):
        ns = _namespace(request, namespace, "delete_metadef_namespace")
        services.check_unprotected(ns)
        ns.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _delete_all(request, namespace, related, *rules):
    """DELETE on a namespace's objects, properties or tags: all of them go, as the
    namespace's deletion rule (and `rules`) allows, never in a protected namespace."""
    ns = _namespace(request, namespace, "delete_metadef_namespace")
    for rule in rules:
        authorize(request.caller, rule, target(ns))
    services.check_unprotected(ns)
    getattr(ns, related).all().delete()
    return Response(status=status.HTTP_204_NO_CONTENT)


class Member:
    """What the views of one kind of namespace member (objects, properties, tags) differ in:
    its related name, its words in messages, its rules, schema and JSON view."""

    def __init__(self, related, label, rules, *, schema=None, view=None, fill=None,
                 read_only=("created_at", "updated_at")):
        self.related, self.label, self.rules = related, label, rules
        self.schema, self.view, self.fill, self.read_only = schema, view, fill, read_only

    def get(self, ns, name):
        try:
            return getattr(ns, self.related).get(name=name)
        except ObjectDoesNotExist:
            raise NotFound(f"Metadata definition {self.label} not found for "
                           f"namespace={ns.namespace} and {self.label}={name}.") from None

    def duplicate(self, ns, name):
        return (f"A metadata definition {self.label} with name={name} already exists in "
                f"namespace={ns.namespace}.")


def _fill_property(prop, body):
    prop.name = body["name"]
    prop.json_schema = services.property_schema_of(body)


def _fill_tag(tag, body):
    tag.name = body["name"]


OBJECTS = Member("metadef_objects", "object",
                 {"list": "get_metadef_objects", "get": "get_metadef_object",
                  "add": "add_metadef_object", "modify": "modify_metadef_object",
                  "delete": "delete_metadef_object"},
                 schema=schemas.object_schema, view=services.object_view,
                 fill=services.object_fill,
                 read_only=("self", "schema", "created_at", "updated_at"))
PROPERTIES = Member("properties", "property",
                    {"list": "get_metadef_properties", "get": "get_metadef_property",
                     "add": "add_metadef_property", "modify": "modify_metadef_property",
                     "delete": "remove_metadef_property"},
                    schema=schemas.property_schema, view=services.property_view,
                    fill=_fill_property)
TAGS = Member("tags", "tag",
              {"list": "get_metadef_tags", "get": "get_metadef_tag", "add": "add_metadef_tag",
               "modify": "modify_metadef_tag", "delete": "delete_metadef_tag"},
              schema=lambda: TAGS_BODY["properties"]["tags"]["items"], view=services.tag_view,
              fill=_fill_tag)


class MemberListView(MetadefView):
    """A namespace's objects or properties: list, add one, delete all."""

    member = None
    adder = None

    def listed(self, records):
        raise NotImplementedError

    @documented(401, 403, 404)
    def get(self, request, namespace):
        ns = _namespace(request, namespace, self.member.rules["list"])
        return Response(self.listed(getattr(ns, self.member.related).order_by("name")))

    @documented(400, 401, 403, 404, 409, request=True)
    def post(self, request, namespace):
        ns = _namespace(request, namespace, self.member.rules["add"])
        body = checked_body(self, request, self.member.schema(), self.member.read_only)
        record = type(self).adder(ns, body)
        return Response(self.member.view(record), status=status.HTTP_201_CREATED)

    @documented(401, 403, 404)
    def delete(self, request, namespace):
        return _delete_all(request, namespace, self.member.related)


class MemberDetailView(MetadefView):
    """One object, property or tag of a namespace: show, replace (renaming it), delete."""

    member = None

    @documented(401, 403, 404)
    def get(self, request, namespace, name):
        ns = _namespace(request, namespace, self.member.rules["get"])
        return Response(self.member.view(self.member.get(ns, name)))

    @documented(400, 401, 403, 404, 409, request=True)
    def put(self, request, namespace, name):
        ns = _namespace(request, namespace, self.member.rules["modify"])
        record = self.member.get(ns, name)
        body = checked_body(self, request, self.member.schema(), self.member.read_only)
        self.member.fill(record, body)
        services.saved(record, self.member.duplicate(ns, body["name"]))
        return Response(self.member.view(record))

    @documented(401, 403, 404)
    def delete(self, request, namespace, name):
        ns = _namespace(request, namespace, self.member.rules["delete"])
        self.member.get(ns, name).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ObjectListView(MemberListView):
    member, adder = OBJECTS, services.object_add

    def listed(self, records):
        return {"objects": [services.object_view(obj) for obj in records],
                "schema": "/v2/schemas/metadefs/objects"}


class ObjectDetailView(MemberDetailView):
    member = OBJECTS


class PropertyListView(MemberListView):
    member, adder = PROPERTIES, services.property_add

    def listed(self, records):
        return {"properties": services.properties_view(records)}


class PropertyDetailView(MemberDetailView):
    member = PROPERTIES

    @extend_schema(parameters=[OpenApiParameter("resource_type", str)],
                   responses={200: doc.ANY_OBJECT, **doc.errors(401, 403, 404)})
    def get(self, request, namespace, name):
        ns = _namespace(request, namespace, "get_metadef_property")
        resource_type = request.query_params.get("resource_type")
        if resource_type:
            # The name as the resource type sees it (`hw_watchdog_action` for the property
            # `watchdog_action` of a namespace associated with the prefix `hw_`).
            authorize(request.caller, "get_metadef_resource_type", target(ns))
            association = (ns.resource_type_associations
                           .filter(resource_type__name=resource_type).first())
            if association is None:
                raise NotFound(f"The metadata definition resource-type association of "
                               f"resource-type={resource_type} to namespace={namespace}, "
                               f"was not found.")
            prefix = association.prefix or ""
            if not (prefix and name.startswith(prefix)):
                raise NotFound(f"Property {name} does not start with the expected resource "
                               f"type association prefix of '{prefix}'.")
            name = name[len(prefix):]
        return Response(services.property_view(PROPERTIES.get(ns, name)))


TAGS_BODY = {"type": "object", "required": ["tags"], "additionalProperties": False,
             "properties": {"tags": {"type": "array", "items": {
                 "type": "object", "required": ["name"], "additionalProperties": False,
                 "properties": {"name": {"type": "string", "minLength": 1,
                                         "maxLength": NAME_LENGTH}}}}}}


class TagListView(MetadefView):
    @documented(401, 403, 404)
    def get(self, request, namespace):
        ns = _namespace(request, namespace, "get_metadef_tags")
        return Response({"tags": [services.tag_view(tag) for tag in ns.tags.order_by("name")]})

    @extend_schema(parameters=[OpenApiParameter("X-Openstack-Append", str,
                                                OpenApiParameter.HEADER)],
                   request=OBJECT, responses={201: doc.ANY_OBJECT,
                                              **doc.errors(400, 401, 403, 404, 409)})
    def post(self, request, namespace):
        """Several tags at once; they replace the namespace's tags unless the header
        X-Openstack-Append is true."""
        ns = _namespace(request, namespace, "add_metadef_tags")
        body = checked_body(self, request, TAGS_BODY, read_only=())
        append = request.headers.get("X-Openstack-Append", "").strip().lower() in TRUE
        tags = services.tags_add(ns, [tag["name"] for tag in body["tags"]], append=append)
        return Response({"tags": [{"name": tag.name} for tag in tags]},
                        status=status.HTTP_201_CREATED)

    @documented(401, 403, 404)
    def delete(self, request, namespace):
        return _delete_all(request, namespace, "tags", "delete_metadef_tags")


def _check_tag_name(name):
    if not name or len(name) > NAME_LENGTH:
        raise Invalid(f"A tag name has 1 to {NAME_LENGTH} characters.")
    return name


class TagDetailView(MemberDetailView):
    member = TAGS

    @documented(400, 401, 403, 404, 409)
    def post(self, request, namespace, name):
        ns = _namespace(request, namespace, "add_metadef_tag")
        tag = services.tag_add(ns, _check_tag_name(name))
        return Response(services.tag_view(tag), status=status.HTTP_201_CREATED)


class ResourceTypeListView(MetadefView):
    @documented(401, 403)
    def get(self, request):
        authorize(request.caller, "list_metadef_resource_types", _caller_target(request))
        return Response({"resource_types": [services.resource_type_view(rt)
                                            for rt in ResourceType.objects.order_by("id")]})


class AssociationListView(MetadefView):
    @documented(401, 403, 404)
    def get(self, request, namespace):
        ns = _namespace(request, namespace, "list_metadef_resource_types")
        associations = ResourceTypeAssociation.objects.filter(namespace=ns).select_related(
            "resource_type").order_by("resource_type__name")
        return Response({"resource_type_associations": [services.association_view(a)
                                                         for a in associations]})

    @documented(400, 401, 403, 404, 409, request=True)
    def post(self, request, namespace):
        ns = _namespace(request, namespace, "add_metadef_resource_type_association")
        body = checked_body(self, request, schemas.resource_type_schema(),
                            read_only=("created_at", "updated_at"))
        association = services.association_add(ns, body)
        return Response(services.association_view(association), status=status.HTTP_201_CREATED)


class AssociationDetailView(MetadefView):
    @documented(401, 403, 404)
    def delete(self, request, namespace, resource_type):
        ns = _namespace(request, namespace, "remove_metadef_resource_type_association")
        services.association_remove(ns, resource_type)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SchemaView(schemas_view.SchemaView):
    """`/v2/schemas/metadefs/<name>`: the schemas above, served as the image API's are."""

    @extend_schema(responses={200: doc.ANY_OBJECT, **doc.errors(404)})
    def get(self, request, name):
        name = f"metadefs/{name}"
        if name not in schemas.SCHEMAS:
            raise NotFound(f"No schema {name}")
        return Response(schemas.SCHEMAS[name]())
