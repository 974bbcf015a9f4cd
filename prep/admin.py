from django.contrib import admin

from accounts.admin import OperatorAccess
from prep.models import Extraction


@admin.register(Extraction)
class ExtractionAdmin(OperatorAccess, admin.ModelAdmin[Extraction]):
    list_display = ("pk", "owner", "method", "source_name", "state", "percent", "worker", "created_at")
    list_filter = ("method", "state", "worker")
    search_fields = ("source_name", "owner__username")
    readonly_fields = ("state", "frames_done", "frames_total", "report", "error_message", "worker", "started_at",
                       "finished_at")
