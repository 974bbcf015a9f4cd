from django.contrib import admin

from studio.models import Adapter, Generation


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin[Adapter]):
    list_display = ("name", "owner", "source", "base_model", "rank", "created_at")
    list_filter = ("source",)


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin[Generation]):
    list_display = ("pk", "owner", "adapter", "state", "created_at")
    list_filter = ("state",)
