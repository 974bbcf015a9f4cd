"""The console's own pages, inside the admin (staff only: non-staff get the admin login)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from operators import broker, model_presets, storage_usage, workers
from operators.cleanup import clean_up_caches


@admin.site.admin_view
@require_GET
def queues(request: HttpRequest) -> HttpResponse:
    try:
        lengths, broker_error = broker.queue_lengths(), ""
    except broker.BrokerUnavailable as error:
        lengths, broker_error = [], str(error)
    rows = workers.worker_rows(workers.inspect_workers())
    return render(request, "operators/queues.html", _context(
        request, "Queues and workers", lengths=lengths, broker_error=broker_error, workers=rows))


@admin.site.admin_view
@require_GET
def storage(request: HttpRequest) -> HttpResponse:
    report = storage_usage.storage_report()
    return render(request, "operators/storage.html", _context(
        request, "Storage", report=report, kinds=list(storage_usage.KINDS.values())))


@admin.site.admin_view
@require_POST
def clean_caches(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)  # admin_view lets only active staff users through
    result = clean_up_caches(request.user)
    messages.success(request, result.summary())
    if result.kept:
        messages.info(request, f"Kept the caches of {len(result.kept)} queued or running run(s).")
    if result.silent:
        messages.warning(request, f"These workers did not answer, so their disks were not cleaned: "
                                  f"{', '.join(result.silent)}. Try again when they are back.")
    for error in result.errors:
        messages.error(request, f"A worker could not clean its disk: {error}")
    return redirect("operators:storage")


@admin.site.admin_view
@require_GET
def models(request: HttpRequest) -> HttpResponse:
    rows = model_presets.model_rows()
    return render(request, "operators/models.html", _context(
        request, "Model presets", rows=rows, presets=model_presets.preset_summaries(rows),
        bases=model_presets.base_summaries(rows), memory=model_presets.memory_settings()))


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}
