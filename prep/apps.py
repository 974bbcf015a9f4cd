from django.apps import AppConfig


class PrepConfig(AppConfig):
    name = "prep"
    verbose_name = "Dataset preparation"

    def ready(self) -> None:
        # these name models, which exist only once apps are loaded (AppConfig.ready)
        from jobs.lifecycle import register
        from prep.services import KIND  # needs the models loaded

        register(KIND)
