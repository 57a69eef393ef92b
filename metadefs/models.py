"""Metadata definitions on Glance's own tables and columns (glance/db/sqlalchemy/
models_metadef.py): namespaces holding properties, objects and tags, and the resource types
(OS::Glance::Image, OS::Nova::Flavor...) a namespace applies to.

Unlike images, metadef rows are deleted outright, as Glance deletes them.
"""
from django.db import models
from django.utils import timezone

from images.fields import JSONTextField


class MetadefModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, auto_now=True)

    class Meta:
        abstract = True


class Namespace(MetadefModel):
    """A named group of property definitions, e.g. OS::Compute::Hypervisor."""

    class Visibility(models.TextChoices):
        PUBLIC = "public"
        PRIVATE = "private"

    id = models.AutoField(primary_key=True)
    namespace = models.CharField(max_length=80, unique=True)
    display_name = models.CharField(max_length=80, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    visibility = models.CharField(max_length=32, null=True, choices=Visibility.choices,
                                  default=Visibility.PRIVATE)
    protected = models.BooleanField(null=True, default=False)
    owner = models.CharField(max_length=255, db_index=True)

    class Meta:
        db_table = "metadef_namespaces"

    def __str__(self):
        return self.namespace


class MetadefObject(MetadefModel):
    """A named set of properties within a namespace; `required` is comma-separated text."""

    id = models.AutoField(primary_key=True)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE,
                                  related_name="metadef_objects",
                                  db_column="namespace_id")
    name = models.CharField(max_length=80, db_index=True)
    description = models.TextField(null=True, blank=True)
    required = models.TextField(null=True, blank=True)
    json_schema = JSONTextField(default=dict)

    class Meta:
        db_table = "metadef_objects"
        constraints = [models.UniqueConstraint(fields=["namespace", "name"],
                                               name="uq_metadef_objects_namespace_id_name")]

    @property
    def required_list(self):
        return self.required.split(",") if self.required else []


class MetadefProperty(MetadefModel):
    """One property definition: its JSON schema (type, title, enum, ...) without its name."""

    id = models.AutoField(primary_key=True)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE,
                                  related_name="properties", db_column="namespace_id")
    name = models.CharField(max_length=80, db_index=True)
    json_schema = JSONTextField(default=dict)

    class Meta:
        db_table = "metadef_properties"
        constraints = [models.UniqueConstraint(fields=["namespace", "name"],
                                               name="uq_metadef_properties_namespace_id_name")]


class MetadefTag(MetadefModel):
    id = models.AutoField(primary_key=True)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="tags",
                                  db_column="namespace_id")
    name = models.CharField(max_length=80, db_index=True)

    class Meta:
        db_table = "metadef_tags"
        constraints = [models.UniqueConstraint(fields=["namespace", "name"],
                                               name="uq_metadef_tags_namespace_id_name")]


class ResourceType(MetadefModel):
    """A kind of cloud resource whose metadata a namespace describes (OS::Glance::Image...);
    the standard ones are protected."""

    id = models.AutoField(primary_key=True)
    name = models.CharField(max_length=80, unique=True)
    protected = models.BooleanField(default=False)

    class Meta:
        db_table = "metadef_resource_types"

    def __str__(self):
        return self.name


class ResourceTypeAssociation(MetadefModel):
    """A namespace applied to a resource type: its properties carry `prefix` on that resource
    (e.g. `hw_` on images), and `properties_target` says where they go (e.g. `image`)."""

    pk = models.CompositePrimaryKey("resource_type_id", "namespace_id")
    resource_type = models.ForeignKey(ResourceType, on_delete=models.PROTECT,
                                      related_name="associations",
                                      db_column="resource_type_id")
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE,
                                  related_name="resource_type_associations",
                                  db_column="namespace_id")
    properties_target = models.CharField(max_length=80, null=True, blank=True)
    prefix = models.CharField(max_length=80, null=True, blank=True)

    class Meta:
        db_table = "metadef_namespace_resource_types"
