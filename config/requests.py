"""Request types for views, so type checking knows about `request.htmx` and signed-in users."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedRequest(HtmxHttpRequest):
    """For views behind @login_required: `user` is a real creator, never AnonymousUser."""

    user: User
