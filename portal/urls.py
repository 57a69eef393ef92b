from django.contrib import admin
from django.urls import include, path

from images.api.versions import RootView

urlpatterns = [
    path("", RootView.as_view()),
    path("admin/", admin.site.urls),
    path("", include("images.api.urls")),
]
