from __future__ import annotations

import hmac
import time
import uuid

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from config import health
from config.requests import HtmxHttpRequest
from config.tasks import probe_cpu, probe_gpu
from jobs.enqueue import enqueue_on_commit
from operators import metrics as operator_metrics


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Up or down, per check, for anyone (load balancers, uptime checks); what each check found (socket paths,
    worker host names, errors) only for an operator or a monitor with HEALTHZ_TOKEN."""
    ok, report = health.overall()
    shown = report if _operator_or_bearer(request, settings.HEALTHZ_TOKEN) else health.statuses(report)
    return JsonResponse({"status": "ok" if ok else "down", **shown}, status=200 if ok else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (operators.metrics) for a scraper with METRICS_TOKEN, or a signed-in operator."""
    if not _operator_or_bearer(request, settings.METRICS_TOKEN):
        response = HttpResponse("Metrics need the METRICS_TOKEN set on the server, sent as "
                                "'Authorization: Bearer <token>', or an operator's sign-in.\n",
                                status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(operator_metrics.render(), content_type=operator_metrics.CONTENT_TYPE)


def _operator_or_bearer(request: HttpRequest, token: str | None) -> bool:
    """A signed-in operator, or a request sending `Authorization: Bearer <token>` (never when `token` is unset)."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


@staff_member_required
@require_http_methods(["GET", "POST"])
def system_check(request: HtmxHttpRequest) -> HttpResponse:
    """Operators send one probe task to each queue and watch the answers arrive over the websocket."""
    ok, report = health.overall()
    context = {"ok": ok, "report": report, "probe_id": None}
    if request.method == "POST":
        probe_id = uuid.uuid4().hex
        sent_at = time.time()
        enqueue_on_commit(probe_cpu, probe_id, sent_at)
        enqueue_on_commit(probe_gpu, probe_id, sent_at)
        context["probe_id"] = probe_id
        if request.htmx:
            return render(request, "ops/system_check.html#probe", context)
    return render(request, "ops/system_check.html", context)
