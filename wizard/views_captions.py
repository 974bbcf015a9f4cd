"""Every caption of a dataset changed at once (datasets.caption_edits), with one step of undo kept in the session."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from config.requests import AuthedRequest
from datasets import caption_edits
from datasets.models import Dataset
from wizard.views import _get_draft_for_user


@login_required
@require_POST
def bulk_captions(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    dataset, action = draft.dataset, request.POST.get("action", "")
    key = caption_edits.undo_key(dataset.pk)
    try:
        if action == "undo":
            before = request.session.pop(key, None)
            if not before:
                raise caption_edits.CaptionEditRefused("There is no change to undo.")
            restored = caption_edits.restore(dataset, before)
            messages.success(request, f"{restored} caption{'s' if restored != 1 else ''} put back as they were.")
        else:
            change = _change(request, dataset, action)
            request.session[key] = change.before
            messages.success(request, f"{change.changed} caption{'s' if change.changed != 1 else ''} changed. "
                             "Read them below; “Undo” puts them back.")
    except caption_edits.CaptionEditRefused as refused:
        messages.error(request, str(refused))
    return redirect(reverse("wizard:clips", args=[draft.pk]) + "#captions-h")


def _change(request: AuthedRequest, dataset: Dataset, action: str) -> caption_edits.CaptionChange:
    if action == "replace":
        return caption_edits.replace_words(dataset, request.POST.get("find", ""), request.POST.get("replace", ""))
    if action in ("add-start", "add-end"):
        return caption_edits.add_words(dataset, request.POST.get("words", ""), at_start=action == "add-start")
    raise caption_edits.CaptionEditRefused("Choose what to change: find and replace, or add words.")
