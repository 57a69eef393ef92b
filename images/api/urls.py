from django.urls import path

from images.api import imports, members, schemas, stores, tasks, versions, views

urlpatterns = [
    path("versions", versions.VersionsView.as_view()),
    path("v2/schemas/<path:name>", schemas.SchemaView.as_view()),
    path("v2/images", views.ImageListView.as_view()),
    path("v2/images/<str:image_id>", views.ImageDetailView.as_view()),
    path("v2/images/<str:image_id>/file", views.ImageFileView.as_view()),
    path("v2/images/<str:image_id>/stage", imports.StageView.as_view()),
    path("v2/images/<str:image_id>/import", imports.ImportView.as_view()),
    path("v2/images/<str:image_id>/tasks", imports.ImageTasksView.as_view()),
    path("v2/images/<str:image_id>/tags/<path:tag>", views.ImageTagView.as_view()),
    path("v2/images/<str:image_id>/actions/<str:action>", views.ImageActionView.as_view()),
    path("v2/images/<str:image_id>/members", members.MemberListView.as_view()),
    path("v2/images/<str:image_id>/members/<str:member_id>",
         members.MemberDetailView.as_view()),
    path("v2/tasks", tasks.TaskListView.as_view()),
    path("v2/tasks/<str:task_id>", imports.TaskView.as_view()),
    path("v2/info/stores", stores.StoresInfoView.as_view()),
    path("v2/info/stores/detail", stores.StoresDetailView.as_view()),
    path("v2/info/import", stores.ImportInfoView.as_view()),
    path("v2/info/usage", stores.UsageView.as_view()),
    path("v2/stores/<str:store_name>/<str:image_id>", stores.StoreImageView.as_view()),
]
