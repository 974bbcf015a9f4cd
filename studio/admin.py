from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import OperatorAccess
from studio.generation import cancel_generation
from studio.models import Adapter, Generation


@admin.register(Adapter)
class AdapterAdmin(OperatorAccess, admin.ModelAdmin[Adapter]):
    list_display = ("name", "owner", "source", "kind", "base", "base_model", "rank", "created_at")
    list_filter = ("source", "kind", "base")
    search_fields = ("name", "owner__username")


@admin.register(Generation)
class GenerationAdmin(OperatorAccess, admin.ModelAdmin[Generation]):
    list_display = ("pk", "owner", "adapter", "state", "worker", "created_at", "finished_at")
    list_filter = ("state", "worker")
    search_fields = ("prompt", "owner__username")
    readonly_fields = ("state", "progress", "worker", "cancel_requested", "error_message", "started_at",
                       "finished_at")
    actions = ["cancel"]

    @admin.action(description="Cancel the selected generations")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        cancelled = 0
        for generation in queryset:
            if cancel_generation(generation):
                self.log_change(request, generation, "Cancelled by an operator")
                cancelled += 1
        self.message_user(request, f"{cancelled} generation(s) cancelled or asked to stop; the others had ended.",
                          messages.SUCCESS)
