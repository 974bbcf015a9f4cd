from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    """`mapping|get_item:key`: a dict's value by a key the template computes (Django's dot lookup takes names only)."""
    return mapping.get(key, "")
