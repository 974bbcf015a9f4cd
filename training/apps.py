from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from jobs.lifecycle import register
        from training.runs import KIND  # models must be loaded before the run lifecycle can be imported

        register(KIND)
