"""Creators in the admin, with their quotas and what they use of them."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User
from training.quotas import GB, limits_of, usage_of


@admin.register(User)
class CreatorAdmin(UserAdmin):
    list_display = ("username", "email", "is_staff", "date_joined", "usage")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Quotas (empty: the installation's default; 0: no limit)",
         {"fields": ("max_concurrent_runs", "gpu_hours_per_month", "storage_quota_gb")}),
    )

    @admin.display(description="usage (runs · GPU h this month · storage)")
    def usage(self, user: User) -> str:
        used, limits = usage_of(user), limits_of(user)

        def of(value: str, limit: int) -> str:
            return f"{value}/{limit}" if limit else value

        return " · ".join((
            of(str(used.active_runs), limits.concurrent_runs),
            of(f"{used.gpu_hours_this_month:.1f}", limits.gpu_hours_per_month),
            of(f"{used.storage_bytes / GB:.2f} GB", limits.storage_gb),
        ))
