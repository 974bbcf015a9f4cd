from typing import Any

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, Any]:
    """Whether pages offer "Create account" (SIGNUP_OPEN)."""
    return {"signup_open": settings.SIGNUP_OPEN}
