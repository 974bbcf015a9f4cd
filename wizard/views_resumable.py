"""Uploads in pieces (datasets.resumable): start or find an upload, send a piece, ask how much has arrived; the
clips page's list of unfinished uploads, each of which can be discarded.

The page script uses the first three for files larger than one piece; answers are JSON for it to act on.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO, cast
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.requests import AuthedRequest
from datasets import limits as wizard_limits
from datasets import resumable, services
from datasets.limits import Limits
from datasets.models import PartialUpload
from wizard.models import TrainingDraft
from wizard.views import _get_draft_for_user

SPOOL_BYTES = 1024 * 1024  # a piece larger than this waits on disk, not in memory


def _get_upload_for_user(draft: TrainingDraft, key: UUID) -> PartialUpload:
    """An upload into the draft's dataset (the draft is already the creator's own); 404 for any other."""
    return get_object_or_404(PartialUpload, key=key, dataset=draft.dataset)


def _state(draft: TrainingDraft, upload: PartialUpload, limits: Limits) -> dict[str, object]:
    return {"ok": True, "done": False, "url": reverse("wizard:upload_piece", args=[draft.pk, upload.key]),
            "received": upload.received, "size": upload.size, "chunk_bytes": limits.chunk_bytes}


def _refused(problems: list[str], status: int = 400, **extra: object) -> JsonResponse:
    return JsonResponse({"ok": False, "problems": problems, **extra}, status=status)


@login_required
@require_POST
def upload_start(request: AuthedRequest, draft_id: int) -> JsonResponse:
    """Start the upload of one file (`name`, `size`, `fingerprint`), or find the one already under way."""
    draft = _get_draft_for_user(request, draft_id)
    limits = wizard_limits.current()
    name = request.POST.get("name", "").strip()
    try:
        size = int(request.POST.get("size", ""))
    except ValueError:
        return _refused(["The page did not say how large the file is. Reload it and try again."])
    if not name:
        return _refused(["The page did not say the file's name. Reload it and try again."])
    try:
        upload = resumable.start(draft.dataset, name, size, request.POST.get("fingerprint", ""), limits)
    except services.UploadRefused as refused:
        return _refused(refused.problems)
    return JsonResponse(_state(draft, upload, limits))


@login_required
@require_http_methods(["GET", "POST"])
def upload_piece(request: AuthedRequest, draft_id: int, key: UUID) -> JsonResponse:
    """GET: how much has arrived. POST: the piece starting at the `Upload-Offset` header, as the raw body."""
    draft = _get_draft_for_user(request, draft_id)
    upload = _get_upload_for_user(draft, key)
    limits = wizard_limits.current()
    if upload.outcome is not None:  # the whole file was stored or refused: the browser may have lost that answer
        return _final(upload.outcome)
    if request.method == "GET":
        if resumable.claim_stale_finish(upload):
            return _final(resumable.finish(upload, limits))
        return JsonResponse(_state(draft, upload, limits))  # with every byte in: still being put together
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
        length = int(request.headers.get("Content-Length", ""))
    except ValueError:
        return _refused(["Each piece must say where it starts (Upload-Offset) and its length."])
    if length > limits.chunk_bytes:
        return _refused([f"Pieces are at most {limits.chunk_bytes} bytes."], status=413)
    try:
        upload = _store_piece(request, upload, offset, length)
    except resumable.OffsetMismatch as mismatch:
        return _refused([str(mismatch)], status=409, received=mismatch.received)
    except services.UploadRefused as refused:
        return _refused(refused.problems)
    if upload.received < upload.size:
        return JsonResponse(_state(draft, upload, limits))
    return _final(resumable.finish(upload, limits))


def _store_piece(request: AuthedRequest, upload: PartialUpload, offset: int, length: int) -> PartialUpload:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as piece:
        shutil.copyfileobj(cast(IO[bytes], request), piece, 256 * 1024)
        if piece.tell() != length:
            raise services.UploadRefused(["This piece arrived incomplete; it will be sent again."])
        piece.seek(0)
        return resumable.append(upload, offset, cast(IO[bytes], piece), length)


def _final(answer: dict[str, object]) -> JsonResponse:
    return JsonResponse(answer, status=200 if answer["ok"] else 400)


# --- Unfinished uploads on the clips page


def _render_unfinished(request: AuthedRequest, draft: TrainingDraft, said: str = "") -> HttpResponse:
    context = {"draft": draft, "unfinished": resumable.unfinished(draft.dataset), "unfinished_said": said}
    return render(request, "wizard/clips_step.html#unfinished", context)


@login_required
@require_GET
def unfinished_uploads(request: AuthedRequest, draft_id: int) -> HttpResponse:
    """The clips page's list of unfinished uploads alone: the page script asks for it once its uploads end."""
    draft = _get_draft_for_user(request, draft_id)
    return _render_unfinished(request, draft)


@login_required
@require_POST
def discard_upload(request: AuthedRequest, draft_id: int, key: UUID) -> HttpResponse:
    """Give up an unfinished upload: what arrived of it is deleted, and nothing of it is stored."""
    draft = _get_draft_for_user(request, draft_id)
    upload = _get_upload_for_user(draft, key)
    if resumable.discard(upload):
        said = f"The unfinished upload of {upload.name} was discarded."
    elif PartialUpload.objects.filter(pk=upload.pk, outcome__isnull=True).exists():
        said = f"All of {upload.name} has arrived and is being stored: it appears among your clips in a moment."
    else:
        said = f"The upload of {upload.name} has already ended."
    if request.htmx:
        return _render_unfinished(request, draft, said)
    messages.info(request, said)
    return redirect("wizard:clips", draft.pk)
