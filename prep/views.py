"""A creator's extractions: their output video, and their state for pages that wait on them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from config.delivery import serve_file, serve_made_file, serve_poster
from config.requests import AuthedRequest
from engine.media import write_poster
from prep.models import Extraction


def _get_extraction_for_user(request: AuthedRequest, extraction_id: int) -> Extraction:
    return get_object_or_404(Extraction, pk=extraction_id, owner=request.user)


@login_required
@require_GET
def output(request: AuthedRequest, extraction_id: int) -> HttpResponseBase:
    extraction = _get_extraction_for_user(request, extraction_id)
    return serve_made_file(request, extraction.output, "video/mp4", "This extraction has no video (yet).")


@login_required
@require_GET
def source(request: AuthedRequest, extraction_id: int) -> HttpResponseBase:
    extraction = _get_extraction_for_user(request, extraction_id)
    return serve_file(request, extraction.source, "video/mp4")


@login_required
@require_GET
def output_poster(request: AuthedRequest, extraction_id: int) -> HttpResponseBase:
    """A still of the extraction's video (the edge map, pose skeleton or depth map), shown before it plays."""
    extraction = _get_extraction_for_user(request, extraction_id)
    return serve_poster(request, extraction.output, write_poster)


@login_required
@require_GET
def source_poster(request: AuthedRequest, extraction_id: int) -> HttpResponseBase:
    """A still of the clip the extraction was made from, shown before it plays."""
    extraction = _get_extraction_for_user(request, extraction_id)
    return serve_poster(request, extraction.source, write_poster)


@login_required
@require_GET
def status(request: AuthedRequest, extraction_id: int) -> JsonResponse:
    extraction = _get_extraction_for_user(request, extraction_id)
    return JsonResponse({"id": extraction.pk, "method": extraction.method, "state": extraction.state,
                         "label": extraction.get_state_display(), "percent": extraction.percent,
                         "error": extraction.error_message, "caption": extraction.caption,
                         "report": extraction.report})
