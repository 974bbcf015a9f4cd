"""Upload an adapter (an IC-LoRA or a style/effect LoRA) after checking it fits the Studio's model."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.requests import AuthedRequest
from studio.adapters import AdapterInUse, UploadRejected, delete_adapter, upload_adapter
from studio.forms import AdapterUploadForm
from studio.models import Adapter


def get_adapter_for_user(request: AuthedRequest, adapter_id: Any) -> Adapter:
    """An adapter its creator (or an operator) may use; 404 for anything else, a malformed id included."""
    adapters = Adapter.objects.select_related("run", "checkpoint")
    if not request.user.is_staff:
        adapters = adapters.filter(owner=request.user)
    try:
        return get_object_or_404(adapters, pk=int(adapter_id))
    except (TypeError, ValueError):
        raise Http404("No such adapter") from None


def _get_own_adapter(request: AuthedRequest, adapter_id: int) -> Adapter:
    """An adapter its creator looks after: operators use others' adapters from runs, not from these pages."""
    adapter = get_adapter_for_user(request, adapter_id)
    if adapter.owner_id != request.user.pk:
        raise Http404("Only its creator can see this adapter's page.")
    return adapter


@login_required
@require_GET
def adapter_detail(request: AuthedRequest, adapter_id: int) -> HttpResponse:
    adapter = _get_own_adapter(request, adapter_id)
    generations = adapter.generations.count() + adapter.effect_generations.count()
    return render(request, "studio/studio/adapter.html", {"adapter": adapter, "generations": generations})


@login_required
@require_POST
def adapter_delete(request: AuthedRequest, adapter_id: int) -> HttpResponse:
    adapter = _get_own_adapter(request, adapter_id)
    try:
        delete_adapter(adapter)
    except AdapterInUse as error:
        messages.error(request, str(error))
        return redirect("studio_adapter", adapter.pk)
    messages.success(request, f"The adapter “{adapter.name}” was deleted; what you made with it stays in the gallery.")
    return redirect("dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def adapter_upload(request: AuthedRequest) -> HttpResponse:
    values = {"name": "", "kind": Adapter.Kind.ICLORA.value}
    error = ""
    if request.method == "POST":
        form = AdapterUploadForm(request.POST, request.FILES)
        values = {"name": request.POST.get("name", ""), "kind": request.POST.get("kind", "iclora")}
        if not form.is_valid():
            error = form.first_error()
        else:
            try:
                adapter = upload_adapter(request.user, form.cleaned_data["file"], form.cleaned_data["name"],
                                         form.cleaned_data["kind"])
            except UploadRejected as rejected:
                error = str(rejected)
            else:
                messages.success(request, f"“{adapter.name}” is checked and ready to try.")
                if adapter.kind == Adapter.Kind.EFFECT:
                    return redirect("studio")
                return redirect(reverse("studio") + f"?adapter={adapter.pk}")
    return render(request, "studio/studio/adapter_upload.html", {"values": values, "error": error,
                                                                  "kinds": Adapter.Kind.choices},
                  status=400 if error else 200)
