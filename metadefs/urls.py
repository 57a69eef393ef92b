from django.urls import path

from metadefs import api

NAMESPACE = "namespaces/<str:namespace>"

urlpatterns = [
    path("namespaces", api.NamespaceListView.as_view()),
    path(NAMESPACE, api.NamespaceDetailView.as_view()),
    path(f"{NAMESPACE}/objects", api.ObjectListView.as_view()),
    path(f"{NAMESPACE}/objects/<str:name>", api.ObjectDetailView.as_view()),
    path(f"{NAMESPACE}/properties", api.PropertyListView.as_view()),
    path(f"{NAMESPACE}/properties/<str:name>", api.PropertyDetailView.as_view()),
    path(f"{NAMESPACE}/tags", api.TagListView.as_view()),
    path(f"{NAMESPACE}/tags/<str:name>", api.TagDetailView.as_view()),
    path(f"{NAMESPACE}/resource_types", api.AssociationListView.as_view()),
    path(f"{NAMESPACE}/resource_types/<str:resource_type>", api.AssociationDetailView.as_view()),
    path("resource_types", api.ResourceTypeListView.as_view()),
]
