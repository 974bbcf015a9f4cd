"""What every page may need to say about the base model: whether it is one of the small CPU models."""

from typing import Any

from django.http import HttpRequest

from studio.generation import small_model


def base_model(request: HttpRequest) -> dict[str, Any]:
    """`small_model`: "demo", "tiny" or None (the real LTX-2.3), for the note on every page that shows output."""
    return {"small_model": small_model()}
