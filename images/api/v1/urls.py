"""Image API v1 routes, included by portal/urls.py under `v1/`."""
from django.urls import path

from images.api.v1 import views

urlpatterns = [
    path("images", views.ImagesView.as_view()),
    path("images/detail", views.ImageDetailListView.as_view()),
    path("images/<str:image_id>", views.ImageView.as_view()),
]
