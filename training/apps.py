from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        # these name models, which exist only once apps are loaded (AppConfig.ready)
        from jobs.lifecycle import register
        from training.runs import KIND  # models must be loaded before the run lifecycle can be imported

        register(KIND)
