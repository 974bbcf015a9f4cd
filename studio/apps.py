from django.apps import AppConfig

from training.signals import adapter_trained


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        # Imported here, not at the top: these modules name models, which exist only once apps are loaded.
        from jobs.lifecycle import register
        from studio.adapters import store_trained
        from studio.generation import KIND

        register(KIND)
        adapter_trained.connect(store_trained, dispatch_uid="studio.adapters.store_trained")
