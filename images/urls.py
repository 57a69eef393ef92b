"""The portal's pages (the API's URLs are in images/api/urls.py)."""
from django.urls import path

from images import views, views_audit, views_usage

app_name = "images"
urlpatterns = [
    path("images/", views.image_list, name="list"),
    path("images/upload/", views.image_upload, name="upload"),
    path("images/<str:image_id>/", views.image_detail, name="detail"),
    path("images/<str:image_id>/copy/", views.image_copy, name="copy"),
    path("images/<str:image_id>/remove/", views.image_remove_from_store, name="remove"),
    path("images/<str:image_id>/delete/", views.image_delete, name="delete"),
    path("images/<str:image_id>/restore/", views.image_restore, name="restore"),
    path("images/<str:image_id>/<str:action>/", views.image_set_active, name="set_active"),
    path("stores/", views.store_dashboard, name="stores"),
    path("usage/", views_usage.usage_page, name="usage"),
    path("audit/", views_audit.audit_page, name="audit"),
    path("audit/start/", views_audit.audit_start, name="audit_start"),
    path("audit/act/", views_audit.audit_act, name="audit_act"),
    path("audit/foreign/<int:finding_id>/", views_audit.foreign_remove, name="foreign_remove"),
]
