"""The sign-in throttle: after too many wrong passwords for one account, or from one address, sign-in waits.

Counted in the database, so every web process agrees and nothing depends on Redis being up. The account limit
stops password guessing against one creator; the address limit stops one machine trying many accounts. A right
password clears the account's count.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import FailedSignIn


def _window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def client_ip(request: HttpRequest | None) -> str | None:
    """The address a request came from; behind the proxy, the one the proxy saw (the last it appended)."""
    if request is None:
        return None
    if settings.BEHIND_PROXY and (forwarded := request.META.get("HTTP_X_FORWARDED_FOR", "")):
        address = forwarded.split(",")[-1].strip()
    else:
        address = request.META.get("REMOTE_ADDR", "")
    try:  # a header is whatever the sender wrote: keep only a real address (PostgreSQL's inet refuses the rest)
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def seconds_to_wait(username: str, ip: str | None) -> int:
    """0 when a sign-in may be tried now, else how long until the oldest counted failure leaves the window."""
    since = timezone.now() - _window()
    recent = FailedSignIn.objects.filter(created_at__gte=since)
    limits = [(recent.filter(username=username.lower()), settings.LOGIN_MAX_FAILURES)]
    if ip:
        limits.append((recent.filter(ip=ip), settings.LOGIN_MAX_FAILURES_PER_IP))
    waits = [0.0]
    for failures, limit in limits:
        times = list(failures.order_by("-created_at").values_list("created_at", flat=True)[:limit])
        if limit and len(times) >= limit:
            waits.append((times[-1] + _window() - timezone.now()).total_seconds())
    return max(0, math.ceil(max(waits)))


def record_failure(username: str, ip: str | None) -> None:
    now = timezone.now()
    FailedSignIn.objects.filter(created_at__lt=now - _window()).delete()
    FailedSignIn.objects.create(username=username.lower()[:150], ip=ip, created_at=now)


def forget(username: str) -> None:
    FailedSignIn.objects.filter(username=username.lower()).delete()
