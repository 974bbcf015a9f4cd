"""Clips step, references made on the server: their settings with a live preview, re-making one, captions."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.requests import AuthedRequest
from datasets import limits as wizard_limits
from datasets import resumable
from datasets.models import ClipPair, Dataset
from datasets.recipes import get_recipe
from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.preview import side_by_side_png, still_frame, tracks_preview_png
from prep.services import clean_settings, creator_problem
from wizard import derive
from wizard.derive_forms import DeriveSettingsForm
from wizard.forms import DatasetForm
from wizard.models import TrainingDraft
from wizard.views import _get_draft_for_user, _get_pair_for_user, _review, _step_context

Method = Extraction.Method
PREVIEWABLE = (Method.CANNY, Method.TRACKS)


@dataclass
class MethodPanel:
    method: str
    noun: str
    problem: str | None
    form: DeriveSettingsForm | None
    previewable: bool


def derive_panels(dataset: Dataset, bound: tuple[str, DeriveSettingsForm] | None = None) -> list[MethodPanel]:
    """One panel per method of the dataset's recipe: its settings form, or why it cannot run here."""
    panels = []
    for method in get_recipe(dataset.recipe).derive_methods:
        problem = creator_problem(method)
        form = None
        if not problem:
            form = bound[1] if bound and bound[0] == method else DeriveSettingsForm(dataset, method)
        panels.append(MethodPanel(method, derive.noun(method), problem, form, method in PREVIEWABLE))
    return panels


def derive_context(draft: TrainingDraft, bound: tuple[str, DeriveSettingsForm] | None = None) -> dict[str, Any]:
    panels = derive_panels(draft.dataset, bound)
    return {"derive_panels": panels, "derive_available": any(not panel.problem for panel in panels),
            "caption_problem": creator_problem(Method.CAPTION)}


def _method_or_404(draft: TrainingDraft, method: str) -> str:
    if method not in get_recipe(draft.dataset.recipe).derive_methods:
        raise Http404("This recipe does not make that kind of reference.")
    return method


@login_required
@require_POST
def derive_settings(request: AuthedRequest, draft_id: int, method: str) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    method = _method_or_404(draft, method)
    form = DeriveSettingsForm(draft.dataset, method, request.POST)
    if form.save() is not None:
        derive.schedule_derivations(draft.dataset, method=method)
        messages.success(request, f"Settings saved. Every {derive.noun(method)} is being made again with them.")
        return redirect(reverse("wizard:clips", args=[draft.pk]) + "#derive")
    context = {**_step_context(draft, "clips"), **derive_context(draft, (method, form)), "review": _review(draft),
               "form": DatasetForm(instance=draft.dataset), "limits": wizard_limits.current(),
               "unfinished": resumable.unfinished(draft.dataset)}
    return render(request, "wizard/clips_step.html", context, status=400)


@login_required
@require_GET
def derive_preview(request: AuthedRequest, draft_id: int, method: str) -> HttpResponse:
    """A frame of the first clip beside what the settings in the query string make of it (an htmx partial)."""
    draft = _get_draft_for_user(request, draft_id)
    method = _method_or_404(draft, method)
    if method not in PREVIEWABLE:
        raise Http404("No live preview for this kind of reference.")
    pair = draft.dataset.pairs.filter(reference_is_derived=True).select_related("target_source").first()
    context: dict[str, Any] = {"draft": draft, "method": method}
    form = DeriveSettingsForm(draft.dataset, method, request.GET)
    try:
        if pair is None or pair.target_source is None:
            context["waiting"] = True
            raise ExtractionError("Upload a clip to see a preview.")
        if not form.is_valid():
            raise ExtractionError(" ".join(str(e) for errors in form.errors.values() for e in errors))
        values = clean_settings(method, form.values())
        context["image"] = base64.b64encode(_preview_png(pair, method, values)).decode()
        context["clip"] = pair.name
    except ExtractionError as err:
        context["problem"] = str(err)
    return render(request, "wizard/clips_step.html#derive-preview", context)


def _preview_png(pair: ClipPair, method: str, values: dict[str, Any]) -> bytes:
    source = pair.target_source
    assert source is not None
    if method == Method.TRACKS:
        return tracks_preview_png(source.file, source.sha256, source.name, values)
    # prep.extract.canny loads cv2 and numpy: only when a preview is drawn, not by every web process
    from prep.extract.canny import CannySettings, canny_frame

    seconds = float(pair.target_meta.get("duration", 0) or 0) / 3
    frame = still_frame(source.file, source.sha256, seconds)
    return side_by_side_png(frame, canny_frame(frame, CannySettings.from_dict(values)))


@login_required
@require_POST
def rederive_pair(request: AuthedRequest, draft_id: int, pair_id: int) -> HttpResponse:
    """Make one pair's reference again: after a failure, or with another kind of control (Union)."""
    draft = _get_draft_for_user(request, draft_id)
    pair = _get_pair_for_user(request, draft, pair_id)
    if not pair.reference_is_derived:
        raise Http404("This pair's reference was uploaded.")
    method = request.POST.get("method") or pair.derive_method
    method = _method_or_404(draft, method)
    derive.derive_pair(pair, method, force=True)
    messages.success(request, f"The {derive.noun(method)} of “{pair.name}” is being made.")
    return redirect(reverse("wizard:clips", args=[draft.pk]) + f"#pair-{pair.pk}")


@login_required
@require_POST
def auto_captions(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    try:
        asked = derive.request_captions(draft.dataset)
    except ExtractionError as err:
        messages.error(request, str(err))
    else:
        if asked:
            messages.success(request, f"Writing {asked} caption{'s' if asked != 1 else ''}. They appear in each "
                             "pair as they are ready: read them and fix anything wrong.")
        elif not draft.dataset.pairs.exists():
            messages.info(request, "Upload your clips first: captions are written for each pair.")
        else:
            messages.info(request, "Every pair already has a caption you typed: nothing to write.")
    return redirect(reverse("wizard:clips", args=[draft.pk]) + "#pairs")
