from django.urls import path

from images.api import views

urlpatterns = [
    path("v2/images", views.ImageListView.as_view()),
    path("v2/images/<str:image_id>", views.ImageDetailView.as_view()),
    path("v2/images/<str:image_id>/file", views.ImageFileView.as_view()),
]
