from django.contrib import admin

from wizard.models import TrainingDraft


@admin.register(TrainingDraft)
class TrainingDraftAdmin(admin.ModelAdmin[TrainingDraft]):
    list_display = ("name", "owner", "step", "updated_at")
    list_filter = ("step",)
    raw_id_fields = ("dataset", "run")
