"""Who may use the admin: staff users are operators. The creators' own admin page, with their quotas, is the
operators' (operators/admin.py): it shows usage that the training app measures."""

from __future__ import annotations

from django.http import HttpRequest


class OperatorAccess:
    """Staff users are operators: they see and steer runs and workers without per-model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)
