from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from jobs.lifecycle import register
        from studio.generation import KIND  # needs the models loaded

        register(KIND)
