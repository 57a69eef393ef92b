from django.contrib import admin
from django.urls import include, path

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import SignInView, project_switch
from images.api.versions import RootView
from metadefs.api import SchemaView as MetadefSchemaView
from portal.metrics import MetricsView

urlpatterns = [
    path("", RootView.as_view()),
    path("metrics", MetricsView.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/project/", project_switch, name="project-switch"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("images.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/schema/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include("images.api.v1.urls")),
    path("v2/metadefs/", include("metadefs.urls")),
    path("v2/schemas/metadefs/<str:name>", MetadefSchemaView.as_view()),
    path("", include("images.api.urls")),
]

handler404 = "images.api.errors.not_found"
