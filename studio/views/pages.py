from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from config.requests import AuthedRequest
from datasets.models import Dataset
from studio.models import Adapter
from training.models import TrainingRun
from training.quotas import meters


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
        "meters": meters(request.user),
    }
    return render(request, "studio/dashboard.html", context)
