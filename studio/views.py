from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from config.requests import AuthedRequest
from studio.models import Adapter
from training.models import TrainingRun
from wizard.models import Dataset


def _get_run_for_user(request: AuthedRequest, run_id: int) -> TrainingRun:
    runs = TrainingRun.objects.all() if request.user.is_staff else TrainingRun.objects.filter(owner=request.user)
    return get_object_or_404(runs, pk=run_id)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "studio/home.html")


@login_required
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    context = {
        "datasets": Dataset.objects.filter(owner=request.user).prefetch_related("pairs")[:50],
        "runs": TrainingRun.objects.filter(owner=request.user).select_related("dataset")[:50],
        "adapters": Adapter.objects.filter(owner=request.user)[:50],
    }
    return render(request, "studio/dashboard.html", context)


@login_required
@require_GET
def run_detail(request: AuthedRequest, run_id: int) -> HttpResponse:
    run = _get_run_for_user(request, run_id)
    context = {
        "run": run,
        "events": run.events.order_by("-seq")[:200],
        "checkpoints": run.checkpoints.order_by("-step"),
    }
    return render(request, "studio/run_detail.html", context)
