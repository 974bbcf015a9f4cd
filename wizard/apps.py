from django.apps import AppConfig

from datasets.signals import clips_arrived
from prep.signals import extraction_finished


class WizardConfig(AppConfig):
    name = "wizard"
    verbose_name = "Wizard"

    def ready(self) -> None:
        # Imported here, not at the top: the receivers name models, which exist only once apps are loaded.
        from wizard.derive import on_clips_arrived, on_extraction_finished

        extraction_finished.connect(on_extraction_finished, dispatch_uid="wizard.derive")
        clips_arrived.connect(on_clips_arrived, dispatch_uid="wizard.derive.clips")
