from django.contrib import admin

from datasets.models import ClipPair, Dataset


class ClipPairInline(admin.TabularInline[ClipPair, Dataset]):
    model = ClipPair
    fields = ("name", "status", "caption")
    extra = 0


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin[Dataset]):
    list_display = ("name", "owner", "recipe", "updated_at")
    list_filter = ("recipe",)
    inlines = [ClipPairInline]
