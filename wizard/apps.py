from django.apps import AppConfig


class WizardConfig(AppConfig):
    name = "wizard"
    verbose_name = "Datasets"

    def ready(self) -> None:
        from jobs.lifecycle import register
        from prep.signals import extraction_finished
        from wizard.derive import on_extraction_finished
        from wizard.jobs import KIND  # needs the models loaded

        extraction_finished.connect(on_extraction_finished, dispatch_uid="wizard.derive")
        register(KIND)
