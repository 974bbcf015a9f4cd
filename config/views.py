from __future__ import annotations

import time
import uuid

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from config import health
from config.celery import enqueue_on_commit
from config.requests import HtmxHttpRequest
from config.tasks import probe_cpu, probe_gpu


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    ok, report = health.overall()
    return JsonResponse({"status": "ok" if ok else "down", **report}, status=200 if ok else 503)


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
