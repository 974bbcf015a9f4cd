from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        # Imported here, not at the top: the job kind names the models, which exist only once apps are loaded.
        from datasets.jobs import KIND
        from jobs.lifecycle import register

        register(KIND)
