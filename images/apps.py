from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"
    verbose_name = "Images"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from portal import tasklog

        tasklog.connect()
